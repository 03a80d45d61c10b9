"""The audit tests judge only what this project wrote: rows of an adopted audit table (audit_source
legacy, the original system's, with its own outcomes and no reasons) are reported apart."""

from __future__ import annotations

import re

import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_audit_sources"
AUDIT_TESTS = (
    "assert_audit_links_had_one_candidate",
    "assert_audit_ambiguous_decisions_are_no_match",
    "assert_audit_user_phone_links_only_with_fallback",
)


LEGACY = [("linked", 2, None), ("linked", 1, "user_phone"), ("ambiguous", 3, None)]


def test_legacy_audit_rows_are_reported_apart_and_never_judged(bare_app_db):
    import psycopg

    app_db = bare_app_db
    db = psycopg.connect(app_db.conninfo(), autocommit=True)
    # an audit table the app already had (the original system's shape: uuid ids, its own outcomes),
    # whose rows break the linkage's rules: a link with 2 candidates, a users-phone link without the
    # fallback flag, an outcome the linkage never writes
    db.execute(
        "create table public.user_link_audit (id uuid primary key default gen_random_uuid(), table_name text,"
        " record_id uuid, event_id uuid, normalized_phone text, matched_guest_id uuid, linked_user_id uuid,"
        " outcome text not null, reason text, candidate_count integer, created_at timestamptz default now())"
    )
    for outcome, candidate_count, reason in LEGACY:
        db.execute(
            "insert into public.user_link_audit (table_name, record_id, outcome, reason, candidate_count, created_at)"
            " values ('message_deliveries', gen_random_uuid(), %s, %s, %s, now() - interval '400 days')",
            (outcome, reason, candidate_count),
        )
    # dbt build deploys first (on-run-start), which adopts that table as the legacy part of the audit
    dbt_runner.run_dbt(["run-operation", "deploy"], app_db, target_path=TARGET).check()
    event = w.event(db)
    guest = w.guest(db, event, w.user(db), "+14155550111")
    w.deliver(db, w.message(db, event), guest, "+14155550111")  # the linkage's own row: linked, 1 candidate

    result = dbt_runner.run_dbt(
        ["build", "--select", "stg_app__user_link_audit+", "--exclude", "daily_integrity_check"],
        app_db,
        target_path=TARGET,
    )

    assert result.returncode == 0, result.output[-4000:]
    for test in AUDIT_TESTS:
        assert re.search(rf"PASS {test}\b", result.output), test
    assert re.search(r"PASS in_audit_vocabulary_stg_app__user_link_audit_outcome", result.output)
    legacy = db.execute("select outcome, audit_rows from linkage.legacy_link_audit_daily order by outcome").fetchall()
    assert legacy == [("ambiguous", 1), ("linked", 2)]
    judged = db.execute("select outcome, attempts from linkage.link_attempts_daily").fetchall()
    assert judged == [("linked", 1)]

    # the same rows written as the linkage's own would fail its error-level tests
    for outcome, candidate_count, reason in LEGACY:
        db.execute(
            "insert into delivery_linkage.link_attempts (table_name, outcome, reason, candidate_count, record_ids,"
            " created_at) values ('message_deliveries', %s, coalesce(%s, 'guest_record'), %s,"
            " array[gen_random_uuid()], now() - interval '400 days')",
            (outcome, reason, candidate_count),
        )
    strict = dbt_runner.run_dbt(["test", "--select", *AUDIT_TESTS], app_db, target_path=TARGET)
    assert strict.returncode == 1
    assert re.search(r"FAIL 1 assert_audit_links_had_one_candidate", strict.output), strict.output[-3000:]
    assert re.search(r"FAIL 1 assert_audit_user_phone_links_only_with_fallback", strict.output)
    assert re.search(r"FAIL 2 assert_audit_ambiguous_decisions_are_no_match", strict.output)
