"""The original system's functions keep working after the upgrade, by name and with their named
arguments (the table in docs/adoption.md says what each does now)."""

from __future__ import annotations

import psycopg
import pytest
from adoption_support import E, G, U, delivery_user, notices, world_delivery

from delivery_linkage_devtools.testing.world import linkable_null

pytestmark = pytest.mark.dbt


def one(conn, query, params=()):
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute(query, params).fetchone()


def test_get_feature_flag_and_normalize_phone_keep_their_parameter_names(conn):
    assert conn.execute("select public.get_feature_flag(flag_name => 'LINK_USER_BY_PHONE')").fetchone() == (True,)
    assert conn.execute(
        "select public.get_feature_flag(flag_name => 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS')"
    ).fetchone() == (False,)
    assert conn.execute("select public.get_feature_flag(flag_name => 'NO_SUCH_FLAG')").fetchone() == (False,)
    assert conn.execute("select public.normalize_phone(phone_input => '(555) 000-0101')").fetchone() == (
        "+15550000101",
    )
    assert conn.execute("select public.normalize_phone(phone_input => '555-01')").fetchone() == (None,)


def test_link_user_by_phone_keeps_its_parameter_names_and_answers_with_a_reason(conn):
    row = one(
        conn,
        "select * from public.link_user_by_phone(p_event_id => %s, p_normalized_phone => %s)",
        (E["wedding"], "+15550000101"),
    )
    assert {key: str(value) if key.endswith("_id") else value for key, value in row.items()} == {
        "user_id": U["ava"],
        "guest_id": G["wedding/ava"],
        "outcome": "linked",  # text now; the original's enum values compare equal as text
        "reason": "guest_phone",
        "candidate_count": 1,
    }
    # the original's callers compared the outcome with its enum literals
    assert conn.execute(
        "select outcome = 'no_match' from public.link_user_by_phone(p_event_id => %s, p_normalized_phone => %s)",
        (E["wedding"], "+15550000106"),
    ).fetchone() == (True,)


def test_backfill_user_links_runs_one_batch_of_the_historical_backfill(conn):
    audit_rows = conn.execute("select count(*) from public.user_link_audit").fetchone()[0]
    dry = one(
        conn,
        "select * from public.backfill_user_links(p_table_name => 'message_deliveries', p_batch_size => 100, "
        "p_dry_run => true)",
    )
    # Ben's and Ava's deliveries the original left NULL, and the host's own copy without a guest (the
    # guest-phone rule: Hana's phone in her event), which the original never looked at
    assert dry["linked_count"] == 3 and dry["processed_count"] == 22
    assert dry["sample_results"] == {"historical_guest_record": 2, "historical_guest_phone": 1}
    # unlike the original's, a dry run changes nothing and audits nothing
    assert len(linkable_null(conn)) == 2
    assert conn.execute("select count(*) from public.user_link_audit").fetchone()[0] == audit_rows
    real = one(
        conn,
        "select * from public.backfill_user_links(p_table_name => 'message_deliveries', p_batch_size => 100, "
        "p_dry_run => false)",
    )
    assert real["linked_count"] == 3
    assert linkable_null(conn) == set()
    assert delivery_user(conn, world_delivery(conn, "birthday/invitation", "birthday/ben")) == U["ben"]
    assert conn.execute(
        "select user_id::text from public.message_deliveries where guest_id is null and phone_number = '+15550000001'"
    ).fetchone() == (U["hana"],)
    with pytest.raises(psycopg.errors.RaiseException, match="Unsupported table: users"):
        conn.execute("select * from public.backfill_user_links(p_table_name => 'users')")


def test_rollback_user_links_undoes_the_links_made_since_a_time(conn):
    since = conn.execute("select clock_timestamp()").fetchone()[0]
    conn.execute("select * from public.backfill_user_links(p_dry_run => false)")
    assert linkable_null(conn) == set()
    dry = one(conn, "select * from public.rollback_user_links(p_since_timestamp => %s, p_dry_run => true)", (since,))
    assert dry["rolled_back_count"] == 3 and linkable_null(conn) == set()  # counted, nothing changed
    rolled = one(
        conn,
        "select * from public.rollback_user_links(p_since_timestamp => %s, p_table_name => 'message_deliveries', "
        "p_dry_run => false)",
        (since,),
    )
    assert rolled["rolled_back_count"] == 3
    assert len(linkable_null(conn)) == 2


def test_the_originals_purge_job_keeps_running_and_is_logged(conn):
    aged = conn.execute(
        "update delivery_linkage.user_link_audit_legacy set created_at = created_at - interval '200 days' "
        "where event_id = %s",
        (E["birthday"],),
    ).rowcount
    with notices(conn) as received:
        assert conn.execute("select public.purge_user_link_audit(retain_days => 180)").fetchone() == (aged,)
        conn.execute("select public.run_user_link_audit_purge(retain_days => 180)")
        conn.execute("select public.run_user_link_audit_purge()")  # the weekly job's own call
    assert conn.execute(
        "select retain_days, attempts_deleted, legacy_rows_deleted from delivery_linkage.link_audit_purge_runs "
        "order by id"
    ).fetchall() == [(180, 0, aged), (180, 0, 0), (180, 0, 0)]
    assert len(received) == 3 and all(message.startswith("delivery_linkage: purged") for message in received)
    assert conn.execute(
        "select count(*) from public.user_link_audit where audit_source = 'legacy' and event_id = %s", (E["birthday"],)
    ).fetchone() == (0,)
    # the original's own log keeps its history
    assert conn.execute("select count(*) from public.user_link_audit_purge_runs").fetchone() == (1,)
