"""The audit tests judge only what this project wrote: rows of an adopted audit table (audit_source
legacy, the original system's, with its own outcomes and no reasons) are reported apart."""

from __future__ import annotations

import re

import pytest

import pending_interface
import world as w
from delivery_linkage.database import dbt_runner

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_audit_sources"
AUDIT_TESTS = (
    "assert_audit_links_had_one_candidate",
    "assert_audit_ambiguous_decisions_are_no_match",
    "assert_audit_user_phone_links_only_with_fallback",
)


def legacy_row(conn, outcome: str, candidate_count: int | None, reason: str | None = None) -> None:
    """An audit row as the original system wrote it: uuid id (kept as text), no linkage reason."""
    conn.execute(
        "insert into user_link_audit (table_name, outcome, reason, candidate_count, created_at, audit_source) "
        "values ('message_deliveries', %s, %s, %s, now() - interval '400 days', 'legacy')",
        (outcome, reason, candidate_count),
    )


def test_legacy_audit_rows_are_reported_apart_and_never_judged(app_db, db):
    pending_interface.add_audit_source(db)
    event = w.event(db)
    guest = w.guest(db, event, w.user(db), "+14155550111")
    w.deliver(db, w.message(db, event), guest, "+14155550111")  # the linkage's own row: linked, 1 candidate
    # the original system's rows break the linkage's rules: a link with 2 candidates, a users-phone
    # link without the fallback flag, an outcome the linkage never writes
    legacy_row(db, "linked", 2)
    legacy_row(db, "linked", 1, "user_phone")
    legacy_row(db, "ambiguous", 3)

    result = dbt_runner.run_dbt(
        ["build", "--select", "stg_app__user_link_audit+", "--exclude", "daily_integrity_check"],
        app_db,
        target_path=TARGET,
    )

    assert result.returncode == 0, result.output[-4000:]
    for test in AUDIT_TESTS:
        assert re.search(rf"PASS {test}\b", result.output), test
    assert re.search(r"PASS accepted_values_stg_app__user_link_audit_outcome", result.output)
    legacy = db.execute("select outcome, audit_rows from linkage.legacy_link_audit_daily order by outcome").fetchall()
    assert legacy == [("ambiguous", 1), ("linked", 2)]
    judged = db.execute("select outcome, attempts from linkage.link_attempts_daily").fetchall()
    assert judged == [("linked", 1)]

    # the same rows written as the linkage's own would fail its error-level tests
    db.execute("update user_link_audit set audit_source = 'linkage' where audit_source = 'legacy'")
    strict = dbt_runner.run_dbt(["test", "--select", *AUDIT_TESTS], app_db, target_path=TARGET)
    assert strict.returncode == 1
    assert re.search(r"FAIL 1 assert_audit_links_had_one_candidate", strict.output), strict.output[-3000:]
    assert re.search(r"FAIL 1 assert_audit_user_phone_links_only_with_fallback", strict.output)
    assert re.search(r"FAIL 2 assert_audit_ambiguous_decisions_are_no_match", strict.output)
