"""`linkage check` exit codes and JSON for every outcome, `linkage backfill` and `rollback`, and errors that
name cause and fix. Exit codes: 0 healthy, 1 warning, 2 critical, 3 could not check, 64 usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing import world as w

LINKAGE = str(Path(sys.executable).with_name("linkage"))


def linkage(settings, *args, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(settings.libpq_env())
    env.update(extra_env or {})
    return subprocess.run([LINKAGE, *args], env=env, capture_output=True, text=True, timeout=120)


def one_json_object(stdout: str) -> dict:
    """stdout must be exactly one JSON object (one line), whatever the outcome."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("total", "defects", "percentage", "status", "exit_status"),
    [(71, 3, 4.23, "critical", 2), (200, 1, 0.5, "warning", 1), (20, 0, 0.0, "healthy", 0)],
)
def test_check_exit_status_follows_the_runbook_alert_levels(
    modeled_app_db, modeled_db, total, defects, percentage, status, exit_status
):
    runbook_world.build(modeled_db, total, defects)
    result = linkage(modeled_app_db, "check", "--json")
    report = one_json_object(result.stdout)
    assert result.returncode == exit_status, result.stderr
    assert (report["status"], report["exit_code"]) == (status, exit_status)
    assert (report["total_deliveries"], report["inconsistent_deliveries"]) == (total, defects)
    assert report["inconsistency_percentage"] == percentage
    assert report["health_status"] == status
    assert "error" not in report
    human = linkage(modeled_app_db, "check")
    assert human.returncode == exit_status and status in human.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--bogus"],
        ["check", "--json", "true"],  # --json is a flag: "true" is an extra argument
        ["check", "--json", "--bogus"],
        ["check", "--json", "--critical-pct", "high"],
        ["check", "--critical-pct"],
        ["chekc", "--json"],
    ],
)
def test_usage_errors_exit_64_apart_from_every_check_outcome(app_db, db, args):
    runbook_world.build(db, 71, 3)  # critical: a usage error must not be mistaken for it (exit 2)
    result = linkage(app_db, *args)
    assert result.returncode == 64, (result.stdout, result.stderr)
    assert "Error:" in result.stderr and "--help" in result.stderr and "Traceback" not in result.stderr
    if "--json" in args:
        error = one_json_object(result.stdout)
        assert (error["status"], error["exit_code"]) == ("error", 64)
        assert error["error"] and "--help" in error["fix"]
    else:
        assert result.stdout == ""


def test_json_is_a_flag_and_the_help_documents_every_exit_code(app_db):
    result = linkage(app_db, "check", "--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    for code, meaning in [("0", "healthy"), ("1", "warning"), ("2", "critical"), ("3", "could not check")]:
        assert f"{code} {meaning}" in help_text
    assert "64 usage error" in help_text
    assert "--json Print one JSON object" in help_text  # no value shown after the flag (was `--json <bool>`)


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

    first = db.execute("select * from delivery_linkage.backfill_deliveries_batch(null, 5, false)").fetchone()
    assert first[1] == 5
    assert w.linkable_null_count(db) < 12  # that batch is committed on its own
    result = backfill.run(db, batch_size=5)
    assert w.linkable_null_count(db) == 0
    assert result.linked + first[2] == 12


UNREACHABLE = {"PGHOST": "/nonexistent-socket-dir", "PGPORT": "5999"}


def test_unreachable_database_names_the_cause_and_the_fix_without_traceback(app_db):
    result = linkage(app_db, "check", extra_env=UNREACHABLE)
    assert result.returncode == 3
    assert "cannot connect" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_could_not_check_prints_one_json_error_object(app_db):
    result = linkage(app_db, "check", "--json", extra_env=UNREACHABLE)
    assert result.returncode == 3, result.stderr
    error = one_json_object(result.stdout)
    assert (error["status"], error["exit_code"]) == ("error", 3)
    assert error["error"].startswith("cannot connect") and "PGHOST" in error["fix"]


def test_a_malformed_libpq_variable_is_could_not_check_not_a_warning(app_db):
    result = linkage(app_db, "check", "--json", extra_env={"PGPORT": "54x32"})
    assert result.returncode == 3 and "Traceback" not in result.stderr
    error = one_json_object(result.stdout)
    assert (error["status"], error["exit_code"]) == ("error", 3)
    assert "PGPORT" in error["error"] and "export PGPORT" in error["fix"]


def test_missing_app_tables_name_the_cause_and_the_fix(server):
    # a database with neither the app nor the models: the check says what is missing and how to build it
    result = linkage(server.with_database("postgres"), "check")
    assert result.returncode == 3
    assert "the metric models are not built" in result.stderr and "Traceback" not in result.stderr
    as_json = linkage(server.with_database("postgres"), "check", "--json")
    error = one_json_object(as_json.stdout)
    assert as_json.returncode == 3 and (error["status"], error["exit_code"]) == ("error", 3)
    assert "the metric models are not built" in error["error"] and "dbt run" in error["fix"]


def test_rollback_undoes_links_since_a_time_but_leaves_changed_deliveries_alone(app_db, db):
    event = w.event(db)
    people = [w.user(db) for _ in range(3)]
    guests = [w.guest(db, event, None, None) for _ in people]
    message = w.message(db, event)
    deliveries = [w.deliver(db, message, g, None) for g in guests]
    since = db.execute("select now()").fetchone()[0]
    for guest, person in zip(guests, people, strict=True):
        db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    w.sweep(db)  # the guests' links are backfilled by the sweeper
    changed_by_app = w.user(db)
    db.execute("update message_deliveries set user_id = %s where id = %s", (changed_by_app, deliveries[2]))
    dry = db.execute("select * from delivery_linkage.rollback_links_since(%s, true)", (since,)).fetchone()
    assert dry == (3, 2, 1)
    assert all(w.delivery_user(db, d) is not None for d in deliveries)
    undo = db.execute("select * from delivery_linkage.rollback_links_since(%s, false)", (since,)).fetchone()
    assert undo == (3, 2, 1)
    assert [w.delivery_user(db, d) for d in deliveries] == [None, None, changed_by_app]
    undone = w.audit_rows(db, table_name="message_deliveries_rollback")
    assert {(r["outcome"], r["previous_user_id"]) for r in undone} == {
        ("unlinked", people[0]),
        ("unlinked", people[1]),
    }


def test_rollback_reads_a_naive_since_in_the_session_time_zone_and_says_so(app_db, db):
    event = w.event(db)
    guests = [w.guest(db, event, None, None) for _ in range(2)]
    message = w.message(db, event)
    deliveries = [w.deliver(db, message, g, None) for g in guests]
    for guest in guests:
        db.execute("update event_guests set user_id = %s where id = %s", (w.user(db), guest))
    w.sweep(db)
    # a minute ago, as a wall-clock time in New York, without an offset
    new_york = db.execute(
        "select to_char((now() - interval '1 minute') at time zone 'America/New_York', 'YYYY-MM-DD HH24:MI:SS')"
    ).fetchone()[0]
    session_in_new_york = {"PGTZ": "America/New_York"}

    dry = linkage(app_db, "rollback", "--since", new_york, "--dry-run", extra_env=session_in_new_york)
    assert dry.returncode == 0, dry.stderr
    assert "read in time zone America/New_York" in dry.stdout
    assert "2 found, 2 would be unlinked" in dry.stdout  # read as UTC it would be hours off, finding 0
    assert all(w.delivery_user(db, d) is not None for d in deliveries)

    real = linkage(app_db, "rollback", "--since", new_york, extra_env=session_in_new_york)
    assert real.returncode == 0 and "2 found, 2 unlinked" in real.stdout, real.stderr
    assert [w.delivery_user(db, d) for d in deliveries] == [None, None]


def test_rollback_refuses_a_time_it_cannot_read_as_a_usage_error(app_db):
    result = linkage(app_db, "rollback", "--since", "yesterday-ish", "--dry-run")
    assert result.returncode == 64
    assert "cannot read --since" in result.stderr and "fix:" in result.stderr


BAD_VALUES = [
    # (command line, option, value): every one refused while parsing, before any connection
    (["check", "--critical-pct", "nan"], "--critical-pct", "nan"),
    (["check", "--critical-pct", "inf"], "--critical-pct", "inf"),
    (["check", "--critical-pct", "-5"], "--critical-pct", "-5"),
    (["check", "--critical-pct", "150"], "--critical-pct", "150"),
    (["check", "--critical-pct", "0.001"], "--critical-pct", "0.001"),
    (["check", "--json", "--critical-pct", "1e400"], "--critical-pct", "1e400"),
    (["check", "--alert-timeout", "0"], "--alert-timeout", "0"),
    (["check", "--alert-timeout", "nan"], "--alert-timeout", "nan"),
    (["check", "--alert-retries", "11"], "--alert-retries", "11"),
    (["check", "--alert-retries", "-1"], "--alert-retries", "-1"),
    (["check", "--state-file", "/nonexistent/dir/state.json"], "--state-file", "/nonexistent/dir/state.json"),
    (["check", "--alert-template", "/nonexistent/body.j2"], "--alert-template", "/nonexistent/body.j2"),
    (["validate", "--critical-pct", "nan"], "--critical-pct", "nan"),
    (["validate", "--docs-dir", "/nonexistent/dir/docs"], "--docs-dir", "/nonexistent/dir/docs"),
    (["report", "--out", "/nonexistent/dir/report.html"], "--out", "/nonexistent/dir/report.html"),
    (["report", "--out", "/tmp"], "--out", "/tmp"),
    (["backfill", "--batch-size", "0"], "--batch-size", "0"),
    (["backfill", "--batch-size", "2.5"], "--batch-size", "2.5"),
]


@pytest.mark.parametrize(("args", "option", "value"), BAD_VALUES, ids=[" ".join(a) for a, _, _ in BAD_VALUES])
def test_every_option_refuses_a_bad_value_at_parse_time_naming_option_value_and_what_is_allowed(
    app_db, args, option, value
):
    # an unreachable database: a command that got past parsing would exit 3, not 64
    result = linkage(app_db, *args, extra_env=UNREACHABLE)
    assert result.returncode == 64, (result.stdout, result.stderr)
    message = " ".join(result.stderr.split())
    assert f"Invalid value for '{option}'" in message and repr(value) in message and "allowed" in message
    assert "Traceback" not in result.stderr and "cannot connect" not in result.stderr
    if "--json" in args:
        error = one_json_object(result.stdout)
        assert (error["status"], error["exit_code"]) == ("error", 64) and value in error["error"]
    assert not Path("/nonexistent").exists()  # nothing created behind the user's back


def test_a_bad_template_is_a_usage_error_naming_the_line(app_db, tmp_path):
    template = tmp_path / "body.j2"
    template.write_text('{"text": {{ status | tojson }\n')
    result = linkage(app_db, "check", "--alert-template", str(template), extra_env=UNREACHABLE)
    assert result.returncode == 64
    assert "not a valid Jinja2 template" in result.stderr and "line 1" in result.stderr


@pytest.mark.dbt
def test_check_and_validate_read_the_threshold_the_models_were_built_with(modeled_app_db, modeled_db):
    """With var linkage_critical_pct 5, a 4.23 % inconsistency is a warning for `linkage check` and for
    `linkage validate` alike, neither given --critical-pct."""
    from delivery_linkage import validation
    from delivery_linkage.database import dbt_runner

    runbook_world.build(modeled_db, 71, 3)  # 4.23 %
    dbt_runner.run_dbt(
        ["run", "--select", "int_delivery_integrity__assessed+", "--vars", "{linkage_critical_pct: 5}"],
        modeled_app_db,
        target_path="target/pytest_threshold",
    ).check()
    check = one_json_object(linkage(modeled_app_db, "check", "--json").stdout)
    assert (check["critical_pct"], check["status"], check["exit_code"]) == (5.0, "warning", 1)
    assert validation.threshold_in_force(modeled_app_db) == 5.0
