"""The concurrency benchmark (devtools/concurrency): reproducible plans, an invariant checker that
catches what it is meant to catch, and a comparison computed from two real runs."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

import world as w
from delivery_linkage_devtools import concurrency
from delivery_linkage_devtools.concurrency import invariants, plan, runner
from delivery_linkage_devtools.concurrency import world as bench_world

PHONE = "+15555550100"


def test_the_same_seed_gives_the_same_world_and_the_same_operations_on_every_connection():
    shape = bench_world.WorldShape.quick(seed=3)
    first, again = bench_world.generate(shape), bench_world.generate(shape)
    assert first.guests_by_event == again.guests_by_event and first.guest_user == again.guest_user
    plans = plan.plan(first, seed=5, connections=3, operations=600)
    replay = plan.plan(again, seed=5, connections=3, operations=600)
    assert plans == replay
    assert [plan.digest(p) for p in plans] == [plan.digest(p) for p in replay]
    assert len({plan.digest(p) for p in plans}) == 3, "each connection has its own sequence"
    other = plan.plan(first, seed=6, connections=3, operations=600)
    assert all(plan.digest(a) != plan.digest(b) for a, b in zip(plans, other, strict=True))


def test_the_plan_mixes_every_operation_and_isolation_levels_seventy_fifteen_fifteen():
    world = bench_world.generate(bench_world.WorldShape.quick())
    operations = [op for ops in plan.plan(world, seed=1, connections=2, operations=20_000) for op in ops]
    assert set(plan.MIX) <= set(runner.OPERATIONS), "every planned kind has the app's statements"
    assert {op.kind for op in operations} == set(plan.MIX)
    levels = Counter(op.isolation for op in operations)
    shares = {level: levels[level] / len(operations) for level in plan.ISOLATION_LEVELS}
    assert shares == pytest.approx({"read committed": 0.70, "repeatable read": 0.15, "serializable": 0.15}, abs=0.02)
    several = [op for op in operations if op.kind == "send_several"]
    assert several and all(len(op.params[2]) >= 2 for op in several), "multi-statement sends"


def test_invariant_checker_reports_each_violation_it_is_meant_to_catch(db):
    invariants.ensure_bookkeeping(db)
    event = w.event(db)
    person = w.user(db, PHONE)
    linked_guest = w.guest(db, event, person, PHONE)
    message = w.message(db, event)
    linked_by_the_linkage = w.deliver(db, message, linked_guest, PHONE)
    assert w.delivery_user(db, linked_by_the_linkage) == person
    clean = invariants.check(db)
    assert (clean["linkable_null"], clean["link_without_audit"], clean["dangling_user"]) == (0, 0, 0)

    bench_world.disable_linkage_triggers(db)
    # a delivery the linkage never saw, for a linked guest
    left_null = w.deliver(db, w.message(db, event), linked_guest, PHONE)
    # a link nobody audited and the app did not write
    other_guest = w.guest(db, event, None, "+15555550101")
    stranger = w.user(db)
    unaudited = w.deliver(db, message, other_guest, "+15555550101")
    db.execute("update message_deliveries set user_id = %s where id = %s", (stranger, unaudited))
    # a user that does not exist
    db.execute("alter table message_deliveries drop constraint message_deliveries_user_id_fkey")
    ghost = uuid.uuid4()
    dangling = w.deliver(db, w.message(db, event), None, None, ghost)

    found = invariants.check(db)
    assert (found["linkable_null"], found["link_without_audit"], found["dangling_user"]) == (1, 2, 1)
    assert found["examples"]["linkable_null"][0][0] == str(left_null)
    assert {row[0] for row in found["examples"]["link_without_audit"]} == {str(unaudited), str(dangling)}

    # the app's own links are not the linkage's to audit
    invariants.record_app_links(db, [(message, other_guest, stranger)])
    assert invariants.check(db)["link_without_audit"] == 1


@pytest.mark.dbt
def test_a_sabotaged_backfill_trigger_is_reported_and_the_comparison_comes_from_two_real_runs(server, tmp_path):
    def sabotage(conn):
        conn.execute("alter table event_guests disable trigger trigger_backfill_deliveries_on_guest_link")

    options = concurrency.ConcurrencyOptions.quick(
        operations=1200,
        connections=3,
        seed=11,
        output_dir=tmp_path,
        prefix=f"linkage_test_concurrency_{uuid.uuid4().hex[:6]}",
    )
    result = concurrency.run(options, server=server, prepare={"linkage": sabotage})
    control, linkage = result["runs"]["control"], result["runs"]["linkage"]

    # the checker fails the sabotaged deployment: guests linked, their deliveries left NULL
    assert linkage["invariants"]["linkable_null"] > 0
    assert "event_guests.trigger_backfill_deliveries_on_guest_link (D)" in linkage["triggers"]
    assert result["targets"][-1]["met"] is False

    # both runs are real, of the same plan: every operation done, the linkage audited, the control did not
    for run in (control, linkage):
        assert run["operations"] == 1200
        assert run["plan_digests"] == result["plan_digests"]
        assert sum(run["operations_by_kind"].values()) == 1200
    assert control["operations_by_kind"] == linkage["operations_by_kind"]
    assert {
        "event_guests.trigger_backfill_deliveries_on_guest_link",
        "message_deliveries.trigger_message_deliveries_auto_link_user",
    } <= set(control["disabled_triggers"])
    assert control["audit_rows_written"] == 0 < linkage["audit_rows_written"]
    assert control["invariants"]["linkable_null"] > 0, "without the linkage, links leave NULL deliveries"

    # the files say what the runs measured
    saved = json.loads((tmp_path / "concurrency.json").read_text())
    assert saved["runs"]["linkage"]["invariants"]["linkable_null"] == linkage["invariants"]["linkable_null"]
    summary = (tmp_path / "concurrency.md").read_text()
    assert (
        f"| invariant: linkable but NULL | {control['invariants']['linkable_null']:,} | "
        f"{linkage['invariants']['linkable_null']:,} |" in summary
    )
    assert f"| operations committed | {control['committed']:,} | {linkage['committed']:,} |" in summary
