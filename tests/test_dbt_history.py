"""History kept by the project's own models: every test result of every run, and an anomaly test
on the inconsistency percentage over delivery_integrity_history."""

from __future__ import annotations

import re

import pytest

from delivery_linkage.database import dbt_runner

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_history"
ANOMALY_TEST = "delivery_integrity_history_inconsistency_not_anomalous"


def dbt(settings, *args):
    return dbt_runner.run_dbt(list(args), settings, target_path=TARGET)


def test_test_result_history_grows_across_two_builds(app_db, db):
    selection = ["--select", "+linkage_feature_flags", "path:models/marts/history"]
    dbt(app_db, "build", *selection).check()
    first = db.execute("select count(*), count(distinct invocation_id) from linkage.test_result_history").fetchone()
    dbt(app_db, "build", *selection).check()
    tests, invocations = db.execute(
        "select count(*), count(distinct invocation_id) from linkage.test_result_history"
    ).fetchone()

    assert first[0] > 0 and first[1] == 1
    assert (tests, invocations) == (2 * first[0], 2)
    # each test's second result knows its first: passing twice is no status change
    second_run = db.execute(
        "select count(*) filter (where previous_status = 'pass'), count(*) filter (where is_status_change) "
        "from linkage.test_result_history where invocation_started_at = "
        "(select max(invocation_started_at) from linkage.test_result_history)"
    ).fetchone()
    assert second_run == (first[0], 0)
    kinds = {row[0] for row in db.execute("select distinct test_kind from linkage.test_result_history")}
    assert kinds == {"data", "unit"}
    flag_test = db.execute(
        "select tested_node, test_severity, status from linkage.test_result_history "
        "where test_name = 'assert_linkage_feature_flags_present' limit 1"
    ).fetchone()
    assert flag_test == ("model.delivery_linkage.linkage_feature_flags", "warn", "pass")


def test_the_anomaly_test_warns_on_a_spike_over_the_trailing_two_weeks(app_db, db):
    dbt(app_db, "run", "--select", "+delivery_integrity_history").check()
    history = "linkage.delivery_integrity_history"
    db.execute(f"delete from {history}")
    # fourteen daily checks around 0.50 %
    db.execute(
        f"""
        insert into {history} (check_timestamp, total_deliveries, inconsistent_deliveries,
            linked_to_guest_user, linkable_null, inconsistency_percentage, health_status, critical_pct)
        select now() - make_interval(days => day), 10000, 50 + (day % 3) * 5, 9950, 50 + (day % 3) * 5,
            (50 + (day % 3) * 5) / 100.0, 'warning', 1.0
        from generate_series(1, 14) as day
        """
    )
    db.execute(
        f"""
        insert into {history} (check_timestamp, total_deliveries, inconsistent_deliveries,
            linked_to_guest_user, linkable_null, inconsistency_percentage, health_status, critical_pct)
        values (now(), 10000, 90, 9910, 90, 0.90, 'warning', 1.0)
        """
    )

    spike = dbt(app_db, "test", "--select", ANOMALY_TEST)

    assert spike.returncode == 0, spike.output[-3000:]  # a warning, not a failure
    assert re.search(rf"WARN 1 {ANOMALY_TEST}", spike.output), spike.output[-3000:]

    db.execute(
        f"update {history} set inconsistency_percentage = 0.55 where check_timestamp = "
        f"(select max(check_timestamp) from {history})"
    )
    calm = dbt(app_db, "test", "--select", ANOMALY_TEST)
    assert re.search(rf"PASS {ANOMALY_TEST}", calm.output), calm.output[-3000:]
