"""The data team's pipeline for real: dbt run / test / run-operation on the runbook's situation."""

from __future__ import annotations

import json
import re

import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_models"


def dbt(settings, *args):
    return dbt_runner.run_dbt(list(args), settings, target_path=TARGET)


def integrity_row(db):
    return db.execute(
        "select total_deliveries, inconsistent_deliveries, inconsistency_percentage::float, health_status "
        "from linkage.delivery_integrity"
    ).fetchone()


def test_runbook_situation_is_critical_until_the_backfill_fixes_it_then_nothing_warns(app_db, db):
    runbook_world.build(db, 71, 3)
    dbt(app_db, "run").check()
    assert integrity_row(db) == (71, 3, 4.23, "critical")
    failing = dbt(app_db, "test")
    assert failing.returncode != 0
    assert "assert_inconsistency_below_critical" in failing.output
    stored = db.execute(
        "select count(*) from linkage_dbt_test__audit.assert_no_linkable_null_deliveries"
    ).fetchone()[0]
    assert stored == 3

    audit_before = len(w.audit_rows(db))
    dry = dbt(app_db, "run-operation", "backfill_deliveries", "--args", "{dry_run: true, batch_size: 5000}")
    dry.check()
    assert w.linkable_null_count(db) == 3 and len(w.audit_rows(db)) == audit_before

    real = dbt(app_db, "run-operation", "backfill_deliveries", "--args", "{batch_size: 2}")
    real.check()
    assert "Before: 3 inconsistent deliveries (4.23%)  After: 0 (0.00%)" in real.output
    assert integrity_row(db) == (71, 0, 0.0, "healthy")
    # removed guests with an account keep NULL deliveries: the runbook's figure counts them, nothing warns
    event = w.event(db)
    message = w.message(db, event)
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    for _ in range(2):
        w.deliver(db, message, w.guest(db, event, w.user(db), removed=True))
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    healthy = dbt(app_db, "build")  # the hourly build: counts the categories and the runbook's figure, tests
    healthy.check()
    assert not re.search(r"\b(WARN|ERROR|FAIL) \d", healthy.output), healthy.output[-3000:]
    assert db.execute("select runbook_inconsistent_deliveries from linkage.delivery_integrity").fetchone()[0] == 2


def test_one_defect_in_two_hundred_warns_but_does_not_fail(app_db, db):
    runbook_world.build(db, 200, 1)
    dbt(app_db, "run").check()
    assert integrity_row(db) == (200, 1, 0.5, "warning")
    result = dbt(app_db, "test")
    assert result.returncode == 0, result.output[-3000:]
    assert "WARN" in result.output and "assert_no_linkable_null_deliveries" in result.output


def test_integrity_history_keeps_one_row_per_run(app_db, db):
    dbt(app_db, "run").check()
    dbt(app_db, "run", "--select", "delivery_integrity_history").check()
    assert db.execute("select count(*) from linkage.delivery_integrity_history").fetchone()[0] == 2


@pytest.fixture
def linked_guest(db):
    """An event and its guest, linked to a user: (event, user, guest)."""
    event = w.event(db)
    person = w.user(db)
    return event, person, w.guest(db, event, person, None)


def test_rollback_links_unlinks_what_the_linkage_linked_since_the_time_given_and_nothing_before(
    app_db, db, linked_guest
):
    event, person, guest = linked_guest
    before = w.deliver(db, w.message(db, event), guest, None)
    since = db.execute("select clock_timestamp()").fetchone()[0]
    after = w.deliver(db, w.message(db, event), guest, None)
    assert (w.delivery_user(db, before), w.delivery_user(db, after)) == (person, person)

    dbt(app_db, "run-operation", "rollback_links", "--args", f"{{since: '{since.isoformat()}'}}").check()

    assert (w.delivery_user(db, before), w.delivery_user(db, after)) == (person, None)


def test_disable_linkage_triggers_stops_linking_and_enable_linkage_triggers_starts_it_again(app_db, db, linked_guest):
    event, person, guest = linked_guest
    dbt(app_db, "run-operation", "disable_linkage_triggers").check()
    while_disabled = w.deliver(db, w.message(db, event), guest, None)
    assert w.delivery_user(db, while_disabled) is None
    assert w.audit_rows(db, record_id=while_disabled) == []

    dbt(app_db, "run-operation", "enable_linkage_triggers").check()

    assert w.delivery_user(db, w.deliver(db, w.message(db, event), guest, None)) == person


def test_set_feature_flag_switching_linking_off_makes_new_deliveries_skipped_and_audited(app_db, db, linked_guest):
    event, _, guest = linked_guest
    dbt(
        app_db, "run-operation", "set_feature_flag", "--args", "{flag_name: LINK_USER_BY_PHONE, enabled: false}"
    ).check()

    skipped = w.deliver(db, w.message(db, event), guest, None)

    assert w.delivery_user(db, skipped) is None
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=skipped)] == [
        ("skipped", "feature_disabled")
    ]


def test_set_feature_flag_refuses_a_flag_the_linkage_does_not_know(app_db, db):
    flags_before = db.execute("select flag_name, enabled from feature_flags order by 1").fetchall()

    unknown = dbt(app_db, "run-operation", "set_feature_flag", "--args", "{flag_name: NOPE, enabled: true}")

    assert unknown.returncode != 0 and "unknown feature flag 'NOPE'" in unknown.output, unknown.output[-2000:]
    assert db.execute("select flag_name, enabled from feature_flags order by 1").fetchall() == flags_before


def test_dbt_unit_tests_pass(app_db):
    dbt(app_db, "run", "--empty").check()  # unit tests read their inputs' columns from the built relations
    result = dbt(app_db, "test", "--select", "test_type:unit")
    result.check()
    target = dbt_runner.target_dir(TARGET)
    manifest = json.loads((target / "manifest.json").read_text())
    defined = {uid for uid, test in manifest["unit_tests"].items() if test["package_name"] == "delivery_linkage"}
    results = json.loads((target / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(defined) >= 15
    assert ran == dict.fromkeys(defined, "pass")
