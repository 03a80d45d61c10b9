"""Interleaved app operations keep the invariants and see nothing the control does not (issue 15, item 4).

A subset of the interleaving checker (`make interleavings` runs the whole space; bench/INTERLEAVINGS.md):
for a few pairs of app operations, every permutation of their two sessions' steps at each isolation
level, with the users fallback off and on, on a copy of the session's deployed template and on a
control database without the linkage. A pair fails when any
of its permutations breaks an invariant at quiescence, or shows the app an error (serialization
failures above READ COMMITTED excepted) or, at READ COMMITTED, a wait that the control does not.
The first three pairs failed on the previous write path (0.1): a cross-event link and an audit out of
order; a send left NULL forever behind a locked user row; a deleted user's delivery left NULL after its
guest's relink. The checker is also run against sabotaged deployments, to show each kind of check can
fail.
"""

from __future__ import annotations

import os

import pytest

from delivery_linkage_devtools import app_fixture, interleavings
from delivery_linkage_devtools.interleavings import databases, report, space
from delivery_linkage_devtools.interleavings.operations import OPERATIONS

PREFIX = f"linkage_test_interleavings_{os.getpid()}"


# The pairs `make test` runs: the sends against what changes a delivery's user (a link, a relink, a
# removal, a restore, a user's deletion or lock), the upsert's update path, the flag.
PAIRS = [
    ("upsert_insert", "guest_link"),
    ("send_one", "user_row_locked"),
    ("relink", "user_delete"),
    ("send_several", "remove"),
    ("announcement", "restore"),
    ("upsert_update", "relink"),
    ("send_one", "unlink"),
    ("flag_flip", "send_one"),
]


@pytest.fixture(scope="module")
def control_template(server):
    """The app fixture without the linkage, copied for every control database here."""
    name = f"{PREFIX}_control"
    databases.build_control_template(server, name)
    yield name
    app_fixture.drop_database(server, name)


@pytest.fixture(scope="module")
def case_databases(server, template_database, control_template):
    """One linkage copy of the session's template and one control database, for every test here."""
    with databases.case_databases(
        server, 1, PREFIX, linkage_template=template_database, control_template=control_template
    ) as names:
        yield names[0]


def run_pair(server, names, pair, levels=space.LEVELS) -> list[dict]:
    cases = space.cases(levels=levels, only_pairs={pair})
    assert cases, f"no cases for {pair}"
    return interleavings.run_cases(server, names, cases)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: "-".join(pair))
def test_every_interleaving_of_the_pair_keeps_the_invariants_and_adds_no_error(server, case_databases, pair):
    records = run_pair(server, case_databases, pair)
    failing = [record for record in records if record["failures"]]
    assert not failing, f"{len(failing)} of {len(records)} cases failed:\n{report.failure_text(records)}"


def test_the_space_is_every_pair_every_permutation_every_level_pruned_only_by_symmetry():
    cases = space.cases()
    assert len(cases) == space.size() == 20_640
    by_pair: dict[tuple, set] = {}
    for case in cases:
        by_pair.setdefault((case.fallback, case.isolation, case.first.name, case.second.name), set()).add(case.schedule)
    operations = len(OPERATIONS)
    assert len(by_pair) == 2 * 3 * operations * (operations + 1) // 2, (
        "every unordered pair, itself included, per level, with the users fallback off and on"
    )
    for (_, _, first, second), schedules in by_pair.items():
        steps = {session: next(iter(schedules)).count(session) for session in ("a", "b")}
        mirrored = {tuple("b" if s == "a" else "a" for s in schedule) for schedule in schedules}
        if first == second:
            assert not schedules & mirrored, "a same-operation pair keeps one of each mirrored pair of schedules"
            assert len(schedules | mirrored) == space.schedule_count(steps["a"], steps["b"], False)
        else:
            assert len(schedules) == space.schedule_count(steps["a"], steps["b"], False)


def disable_guest_link_backfill(conn):
    """The guest side of the linkage switched off: no backfill, nothing queued for the sweeper."""
    for trigger in (
        "trigger_backfill_deliveries_on_guest_link",
        "trigger_backfill_deliveries_on_guest_insert",
    ):
        conn.execute(f"alter table event_guests disable trigger {trigger}")


def lock_the_guest_on_every_send(conn):
    """A linkage that takes a lock the app does not: each send locks its guest's row."""
    conn.execute(
        """
        create function public.sabotage_lock_guest() returns trigger language plpgsql as $$
        begin
            perform 1 from public.event_guests where id = new.guest_id for update;
            return new;
        end $$;
        create trigger sabotage_lock_guest before insert on public.message_deliveries
            for each row execute function public.sabotage_lock_guest();
        """
    )


def rewrite_the_status_on_every_send(conn):
    """A linkage that changes what the app wrote: each send's status."""
    conn.execute(
        """
        create function public.sabotage_status() returns trigger language plpgsql as $$
        begin
            new.sms_status := 'tampered';
            return new;
        end $$;
        create trigger sabotage_status before insert on public.message_deliveries
            for each row execute function public.sabotage_status();
        """
    )


@pytest.mark.parametrize(
    "sabotage, pair, kind, detail",
    [
        (
            disable_guest_link_backfill,
            ("guest_link", "guest_name_edit"),
            "linkable_null",
            "message_sent→guest_unlinked",
        ),
        (lock_the_guest_on_every_send, ("send_one", "guest_name_edit"), "new_wait", "a_send waited on b"),
        (rewrite_the_status_on_every_send, ("send_one", "unlink"), "app_state_differs", "status tampered"),
    ],
    ids=["backfill-trigger-disabled", "send-locks-its-guest", "send-rewrites-its-status"],
)
def test_the_checker_fails_against_a_sabotaged_deployment(
    server, template_database, control_template, case_databases, sabotage, pair, kind, detail
):
    """Each kind of check can fail: run at READ COMMITTED against a deployment broken on purpose, the
    pair fails with that kind of finding, which the intact deployment does not show."""

    def findings(records):
        return [f for record in records for f in record["failures"] if f["kind"] == kind and detail in f["detail"]]

    with databases.case_databases(
        server,
        1,
        f"{PREFIX}_sabotaged",
        linkage_template=template_database,
        alter_linkage=sabotage,
        control_template=control_template,
    ) as names:
        records = run_pair(server, names[0], pair, levels=("read committed",))
    assert findings(records), f"the sabotage went unnoticed:\n{report.failure_text(records) or 'no failure at all'}"
    intact = run_pair(server, case_databases, pair, levels=("read committed",))
    assert not findings(intact), f"the intact deployment fails the same way:\n{report.failure_text(intact)}"


def sweeper_never_done(conn):
    conn.execute(
        "create or replace function delivery_linkage.sweep_guest_link_queue() returns integer "
        "language sql as $$ select 1 $$"
    )


def test_the_sweeper_runs_after_each_case_and_one_that_never_empties_its_queue_fails_the_case(
    server, template_database, control_template, case_databases, monkeypatch
):
    """send_one × user_row_locked leaves a delivery NULL in some permutations (the user's row was locked
    when it was sent): the sweeper, run after the sessions end and before the checks, links it and
    empties its queue. A sweeper that never empties its queue fails the case."""
    pair = ("send_one", "user_row_locked")
    records = run_pair(server, case_databases, pair, levels=("read committed",))
    assert all(record["sweep"]["left"] == 0 for record in records)
    assert not [f for record in records for f in record["failures"] if f["kind"] == "linkable_null"]
    with databases.case_databases(
        server,
        1,
        f"{PREFIX}_sweeper",
        linkage_template=template_database,
        alter_linkage=sweeper_never_done,
        control_template=control_template,
    ) as names:
        monkeypatch.setattr(databases, "SWEEP_FOR", 0.1)
        (record,) = interleavings.run_cases(
            server, names[0], space.cases(levels=("read committed",), only_pairs={pair})[:1]
        )
    assert "sweep_not_drained" in [f["kind"] for f in record["failures"]]
