"""`linkage check` exit statuses and figures, `linkage backfill`, and errors that name cause and fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import runbook_world
import world as w

LINKAGE = str(Path(sys.executable).with_name("linkage"))


def linkage(settings, *args, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(settings.libpq_env())
    env.update(extra_env or {})
    return subprocess.run([LINKAGE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("total", "defects", "percentage", "status", "exit_status"),
    [(71, 3, 4.23, "critical", 2), (200, 1, 0.5, "warning", 1), (20, 0, 0.0, "healthy", 0)],
)
def test_check_exit_status_follows_the_runbook_alert_levels(
    modeled_app_db, modeled_db, total, defects, percentage, status, exit_status
):
    runbook_world.build(modeled_db, total, defects)
    result = linkage(modeled_app_db, "check", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == exit_status, result.stderr
    assert (report["total_deliveries"], report["inconsistent_deliveries"]) == (total, defects)
    assert report["inconsistency_percentage"] == percentage
    assert report["health_status"] == status


def test_backfill_dry_run_changes_nothing_then_backfill_leaves_zero(modeled_app_db, modeled_db):
    app_db, db = modeled_app_db, modeled_db  # `linkage backfill` prints the check's figures before and after
    defective = runbook_world.build(db, 71, 3)
    audit_before = len(w.audit_rows(db))
    dry = linkage(app_db, "backfill", "--dry-run", "--batch-size", "10")
    assert dry.returncode == 0, dry.stderr
    assert "3 would link" in dry.stdout
    assert w.linkable_null_count(db) == 3 and len(w.audit_rows(db)) == audit_before
    real = linkage(app_db, "backfill", "--batch-size", "10")
    assert real.returncode == 0, real.stderr
    assert "Before: 3 inconsistent deliveries (4.23%)  After: 0 (0.00%)" in real.stdout
    assert w.linkable_null_count(db) == 0
    audit = w.audit_rows(db, table_name="message_deliveries_backfill")
    assert sorted(r["record_id"] for r in audit) == sorted(defective)
    assert {r["reason"] for r in audit} == {"historical_guest_record"}
    assert linkage(app_db, "check").returncode == 0


def test_backfill_is_resumable_batch_by_batch(app_db, db):
    runbook_world.build(db, 30, 12)
    from delivery_linkage.operations import backfill

    first = db.execute("select * from backfill_deliveries_batch(null, 5, false)").fetchone()
    assert first[1] == 5
    assert w.linkable_null_count(db) < 12  # that batch is committed on its own
    result = backfill.run(db, batch_size=5)
    assert w.linkable_null_count(db) == 0
    assert result.linked + first[2] == 12


def test_unreachable_database_names_the_cause_and_the_fix_without_traceback(app_db):
    result = linkage(app_db, "check", extra_env={"PGHOST": "/nonexistent-socket-dir", "PGPORT": "5999"})
    assert result.returncode == 3
    assert "cannot connect" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_app_tables_name_the_cause_and_the_fix(server):
    result = linkage(server.with_database("postgres"), "check")
    assert result.returncode == 3
    assert "cannot read the app tables" in result.stderr and "Traceback" not in result.stderr


def test_rollback_undoes_links_since_a_time_but_leaves_changed_deliveries_alone(app_db, db):
    event = w.event(db)
    people = [w.user(db) for _ in range(3)]
    guests = [w.guest(db, event, None, None) for _ in people]
    message = w.message(db, event)
    deliveries = [w.deliver(db, message, g, None) for g in guests]
    since = db.execute("select now()").fetchone()[0]
    for guest, person in zip(guests, people, strict=True):
        db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    changed_by_app = w.user(db)
    db.execute("update message_deliveries set user_id = %s where id = %s", (changed_by_app, deliveries[2]))
    dry = db.execute("select * from rollback_links_since(%s, true)", (since,)).fetchone()
    assert dry == (3, 2, 1)
    assert all(w.delivery_user(db, d) is not None for d in deliveries)
    assert db.execute("select * from rollback_links_since(%s, false)", (since,)).fetchone() == (3, 2, 1)
    assert [w.delivery_user(db, d) for d in deliveries] == [None, None, changed_by_app]
    undone = w.audit_rows(db, table_name="message_deliveries_rollback")
    assert {(r["outcome"], r["previous_user_id"]) for r in undone} == {
        ("unlinked", people[0]),
        ("unlinked", people[1]),
    }
