"""Deploy under load: while writers insert deliveries continuously (sends to a whole event and single
rows) and link and unlink guests, dbt redeploys the linkage: unchanged; changed (a trigger on each app
table recreated); changed while a long app transaction holds an app table (the deploy hits its lock
timeout and leaves everything as it was); and upgrades the older version of the system in place. No
writer fails; a writer's worst stall stays under a second for the unchanged deploy and under the
deploy's lock timeout otherwise; everything written meanwhile is linked and audited.

Then one app transaction at a time, deterministically: a changed deploy (or the upgrade) starts while
the app transaction holds an app table, and the app goes on writing. The deploy must wait for the app
transaction, never the reverse: the app's next statement does not wait on a deploy that is itself
waiting, and the deploy completes once the app committed. (The deploy takes the app tables together,
NOWAIT, retrying until its lock timeout, so it never waits while holding one of them.)
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import reliability_support as rs

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import invariants
from delivery_linkage_devtools.testing import world as w

pytestmark = [pytest.mark.reliability, pytest.mark.dbt]

WRITERS = 3
LOCK_TIMEOUT = 5.0  # the deploy's default linkage_lock_timeout
BASELINE = 1.5  # seconds of writes before the first deploy: the writers' stall with no deploy
PHONE = "+15555550177"
LINKAGE_TRIGGERS = {
    "message_deliveries": {
        "trigger_message_deliveries_auto_link_user",
        "trigger_message_deliveries_auto_link_user_on_update",
        "trigger_message_deliveries_audit_links",
    },
    "event_guests": {
        "trigger_backfill_deliveries_on_guest_link",
        "trigger_backfill_deliveries_on_guest_insert",
    },
    "users": {"trigger_relink_deliveries_on_user_delete"},
}


def deploy(settings, variables=None):
    return dbt_runner.run_dbt(
        ["run-operation", "deploy"], settings, variables=variables, target_path="target/pytest_deploy_load"
    )


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, (started, time.perf_counter())


def make_changed(db):
    """An older version recorded, and one trigger on each app table with another definition."""
    db.execute("update delivery_linkage.linkage_deployments set version_hash = 'older'")
    db.execute("comment on trigger trigger_message_deliveries_audit_links on message_deliveries is 'x'")
    db.execute("comment on trigger trigger_backfill_deliveries_on_guest_link on event_guests is 'x'")


def recorded_version(db):
    return db.execute(
        "select version_hash from delivery_linkage.linkage_deployments order by deployed_at desc, id desc limit 1"
    ).fetchone()[0]


def deployments(db):
    return db.execute("select count(*) from delivery_linkage.linkage_deployments").fetchone()[0]


def function_definitions(db):
    return db.execute(
        "select p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)) from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname in ('public', 'delivery_linkage') and p.prokind = 'f' order by 1"
    ).fetchall()


def app_world(db, number):
    """Four events of ten guests, half of them linked, for the writers."""
    events = []
    for event_number in range(4):
        event = w.event(db)
        guests = [
            w.guest(db, event, w.user(db) if i % 2 else None, f"+1555{number}{event_number}5{i:04d}") for i in range(10)
        ]
        events.append((event, guests))
    return events


@contextmanager
def writers_running(settings, events, users=()):
    """Writers inserting and linking until the block ends; yields them after BASELINE seconds of writes
    (their stall with no deploy is measured over that window)."""
    stop = threading.Event()
    writers = [rs.Writer(settings, events, stop, seed, users) for seed in range(WRITERS)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(BASELINE)
        rs.record_max(
            "deploy.stall_baseline", rs.worst_stall(writers, (time.perf_counter() - BASELINE, time.perf_counter()))[0]
        )
        yield writers
        time.sleep(0.5)
    finally:
        stop.set()
        for writer in writers:
            writer.join(60)
    assert not any(writer.is_alive() for writer in writers), "a writer hung"
    rs.add("deploy.writer_statements", sum(len(writer.timings) for writer in writers))
    rs.add("deploy.writer_failures", sum(len(writer.errors) for writer in writers))


def named_relations(db, text):
    """A deadlock's detail with its relations' names instead of their oids."""
    for oid in set(re.findall(r"relation (\d+)", text)):
        name = db.execute("select %s::oid::regclass::text", (oid,)).fetchone()[0]
        text = text.replace(f"relation {oid} ", f"relation {name} ")
    return text


def assert_nothing_escaped(db, writers):
    """No writer failed, and everything written during the deploys was linked and audited."""
    errors = [named_relations(db, error) for writer in writers for error in writer.errors]
    assert not errors, f"{len(errors)} writer statements failed: {errors[:3]}"
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    assert w.linkable_null_count(db) == 0
    assert invariants.unaudited_attempts(db) == 0
    assert invariants.audit_disagreements(db) == []
    for table, names in LINKAGE_TRIGGERS.items():
        found = [
            r[0]
            for r in db.execute(
                "select tgname from pg_trigger where tgrelid = %s::regclass and tgname like 'trigger\\_%%'", (table,)
            ).fetchall()
        ]
        assert sorted(found) == sorted(names), (table, found)
    rs.add("checks.linkable_null")


def test_unchanged_redeploys_under_write_load_record_nothing_and_barely_stall_a_writer(app_db, db, scale):
    events = app_world(db, 1)
    worst = 0.0
    with writers_running(app_db, events, [w.user(db) for _ in range(10)]) as writers:
        for _ in range(scale):
            before = deployments(db)
            result, window = timed(lambda: deploy(app_db))
            result.check()
            assert deployments(db) == before, "an unchanged deploy records nothing"
            worst = max(worst, rs.worst_stall(writers, window)[0])
    rs.record_max("deploy.stall_unchanged", worst)
    assert_nothing_escaped(db, writers)
    assert worst < 1.0, f"a writer stalled {worst * 1000:.0f} ms during an unchanged deploy"


def test_changed_redeploys_under_write_load_complete_and_fail_no_writer(app_db, db, scale):
    events = app_world(db, 2)
    worst, failed = 0.0, []
    with writers_running(app_db, events, [w.user(db) for _ in range(10)]) as writers:
        for _ in range(scale):
            make_changed(db)
            before = deployments(db)
            result, window = timed(lambda: deploy(app_db))
            worst = max(worst, rs.worst_stall(writers, window)[0])
            if result.returncode != 0:
                failed.append(result.output[-800:])
                continue
            assert deployments(db) == before + 1
            comment = db.execute(
                "select obj_description(t.oid, 'pg_trigger') from pg_trigger t "
                "where t.tgname = 'trigger_message_deliveries_audit_links'"
            ).fetchone()[0]
            assert comment.startswith("delivery_linkage "), "the trigger should have been recreated"
    rs.record_max("deploy.stall_changed", worst)
    rs.add("deploy.changed_deploys_failed", len(failed))
    writer_errors = [named_relations(db, error) for writer in writers for error in writer.errors]
    assert not failed, (
        f"{len(failed)} of {scale} changed deploys failed under write load (worst writer stall "
        f"{worst * 1000:.0f} ms, writer errors {writer_errors[:3]}):\n{failed[0]}"
    )
    assert_nothing_escaped(db, writers)
    assert worst < LOCK_TIMEOUT, f"a writer stalled {worst * 1000:.0f} ms during a changed deploy"


def test_a_changed_deploy_that_hits_its_lock_timeout_under_write_load_leaves_everything_as_it_was(app_db, db, scale):
    events = app_world(db, 3)
    quiet_event = w.event(db)
    quiet_guest = w.guest(db, quiet_event, None, None)
    worst = 0.0
    with writers_running(app_db, events, [w.user(db) for _ in range(10)]) as writers:
        for _ in range(scale):
            make_changed(db)
            functions_before = function_definitions(db)
            with psycopg.connect(app_db.conninfo(), autocommit=True) as holder:
                holder.execute("begin")
                # a long app transaction on a guest the writers leave alone: only the tables are shared
                holder.execute(
                    "with m as (insert into messages (event_id) values (%s) returning id) "
                    "insert into message_deliveries (message_id, guest_id) select m.id, %s from m",
                    (quiet_event, quiet_guest),
                )
                result, window = timed(lambda: deploy(app_db, {"linkage_lock_timeout": "1s"}))
                holder.execute("commit")
            worst = max(worst, rs.worst_stall(writers, window)[0])
            assert result.returncode != 0 and "lock timeout" in result.output, result.output[-2000:]
            rs.add("faults.deploy_lock_timeout")
            assert recorded_version(db) == "older", "nothing of the failed deploy may stick"
            assert function_definitions(db) == functions_before
    rs.record_max("deploy.stall_lock_timeout", worst)
    assert_nothing_escaped(db, writers)
    # queued behind the deploy's lock request for at most its 1 s lock timeout
    assert worst < 1.0 + 2.0, f"a writer stalled {worst * 1000:.0f} ms during a deploy that timed out"


def test_upgrade_in_place_under_write_load_fails_no_writer_and_keeps_every_audit_row(bare_app_db):
    """The older version of the system runs the writes; dbt upgrades it while they go on."""

    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute((Path(__file__).resolve().parents[1] / "fixtures" / "legacy_linkage.sql").read_text())
        events = app_world(db, 4)
        with writers_running(bare_app_db, events) as writers:
            legacy_audit = [r[0] for r in db.execute("select id::text from user_link_audit").fetchall()]
            result, window = timed(lambda: deploy(bare_app_db))
            upgraded_at = db.execute("select clock_timestamp()").fetchone()[0]
            time.sleep(1.0)
        result.check()
        stall, _ = rs.worst_stall(writers, window)
        rs.record_max("deploy.stall_upgrade", stall)
        print(f"upgrade under load: worst stall {stall * 1000:.0f} ms, {len(legacy_audit)} legacy audit rows")
        errors = [error for writer in writers for error in writer.errors]
        assert not errors, errors[:5]
        assert stall < LOCK_TIMEOUT
        kept = db.execute(
            "select count(*) from user_link_audit where audit_source = 'legacy' and id = any(%s)", (legacy_audit,)
        ).fetchone()[0]
        assert kept == len(legacy_audit) > 0
        # what was written after the upgrade went through the new linkage: linked, audited with a reason
        after = db.execute(
            "select count(*), count(*) filter (where not exists (select 1 from user_link_audit a "
            " where a.record_id = d.id and a.table_name = 'message_deliveries' and a.audit_source = 'linkage' "
            " and a.reason is not null)) "
            "from message_deliveries d where d.created_at > %s",
            (upgraded_at,),
        ).fetchone()
        assert after[0] > 0 and after[1] == 0, after
        assert w.linkable_null_count(db) == 0
        rs.add("checks.linkable_null")


def deploy_during_an_app_transaction(app_db, db, first, then, upgrade=False):
    """The app runs `first` in a transaction; a changed deploy (a trigger on each app table; or, with
    upgrade, the upgrade of the older version already in db) starts and finds the app tables busy; a
    while later the app runs `then` and commits. The app's `then` must not wait on the deploy (which
    does not have the tables yet), neither may fail, and the deploy completes once the app committed."""
    if not upgrade:
        make_changed(db)
    outcome = {}
    with rs.app_connection(app_db, deadlock_timeout="1s", lock_timeout="30s") as app:
        app.execute("begin")
        app.execute(*first)
        thread = threading.Thread(target=lambda: outcome.setdefault("deploy", deploy(app_db)), daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not db.execute(
            "select count(*) from pg_stat_activity "
            "where state = 'active' and query like '%%do $linkage_deploy$%%' and pid <> pg_backend_pid()"
            " and datname = current_database()"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the deploy never started"
            time.sleep(0.02)
        # a deploy that waited for one table while holding another would be past its deadlock check
        # by now, and one that held a table the app's next statement needs would hold it up
        time.sleep(1.5)
        try:
            (_, window) = timed(lambda: app.execute(*then))
            app.execute("commit")
        finally:
            if app.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                app.execute("rollback")
            thread.join(60)
    waited = window[1] - window[0]
    result = outcome["deploy"]
    assert result.returncode == 0, (
        f"the deploy failed (the app's statement waited {waited:.1f} s meanwhile):\n{result.output[-800:]}"
    )
    assert waited < 1.0, f"the app's statement waited {waited:.1f} s for the deploy"


def guest_and_message(db):
    event = w.event(db)
    return w.guest(db, event, w.user(db), PHONE), w.message(db, event)


def test_changed_deploy_waits_for_an_app_transaction_that_updates_a_guest_then_sends_never_the_reverse(app_db, db):
    guest, message = guest_and_message(db)
    deploy_during_an_app_transaction(
        app_db,
        db,
        ("update event_guests set rsvp_status = 'yes' where id = %s", (guest,)),
        ("insert into message_deliveries (message_id, guest_id) values (%s, %s)", (message, guest)),
    )


def test_changed_deploy_waits_for_an_app_transaction_that_sends_then_updates_the_guest_never_the_reverse(app_db, db):
    guest, message = guest_and_message(db)
    deploy_during_an_app_transaction(
        app_db,
        db,
        ("insert into message_deliveries (message_id, guest_id) values (%s, %s)", (message, guest)),
        ("update event_guests set rsvp_status = 'yes' where id = %s", (guest,)),
    )


def test_changed_deploy_waits_for_an_app_transaction_that_reads_then_sends_never_the_reverse(app_db, db):
    """DROP TRIGGER needs ACCESS EXCLUSIVE: a deploy that took a weaker lock first and upgraded it later
    would wait for the app's read while holding what blocks the app's write."""
    guest, message = guest_and_message(db)
    deploy_during_an_app_transaction(
        app_db,
        db,
        ("select count(*) from message_deliveries where guest_id = %s", (guest,)),
        ("insert into message_deliveries (message_id, guest_id) values (%s, %s)", (message, guest)),
    )


def test_upgrade_in_place_waits_for_an_app_transaction_that_updates_a_guest_then_sends_never_the_reverse(
    bare_app_db,
):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute((Path(__file__).resolve().parents[1] / "fixtures" / "legacy_linkage.sql").read_text())
        guest, message = guest_and_message(db)
        deploy_during_an_app_transaction(
            bare_app_db,
            db,
            ("update event_guests set rsvp_status = 'yes' where id = %s", (guest,)),
            ("insert into message_deliveries (message_id, guest_id) values (%s, %s)", (message, guest)),
            upgrade=True,
        )
