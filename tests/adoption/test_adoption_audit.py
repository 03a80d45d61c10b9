"""The audit after the upgrade: every original row kept and readable as `legacy`, no attempt left
unaudited (the original audited none of the deliveries without a guest or a usable phone), hosts
reading their events' audit through the app's own policy, retention over old and new rows."""

from __future__ import annotations

import psycopg
import pytest
import unveil_fixture as uf
from adoption_support import E, G, U, audit_of, delivery_user, new_message, world_delivery

from conftest import LEGACY_AUDIT_QUERY, dbt

pytestmark = pytest.mark.dbt

LEGACY_VIEW_QUERY = (
    LEGACY_AUDIT_QUERY.replace("id::text", "id")
    .replace("outcome::text", "outcome")
    .replace("from public.user_link_audit", "from public.user_link_audit where audit_source = 'legacy'")
)


def test_every_original_audit_row_is_kept_and_read_as_legacy(upgraded_as):
    role, settings, upgrade = upgraded_as
    assert len(upgrade.legacy_audit) == 51
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        kept = conn.execute(LEGACY_VIEW_QUERY).fetchall()
        assert kept == upgrade.legacy_audit  # ids (uuid as text), outcomes (enum as text), every column
        outcomes = dict(
            conn.execute(
                "select outcome, count(*) from public.user_link_audit where audit_source = 'legacy' group by 1"
            ).fetchall()
        )
        assert outcomes == {"linked": 20, "no_match": 27, "ambiguous": 2, "skipped": 2}
        # rows the original never had a word for stay empty rather than guessed
        assert conn.execute(
            "select count(*) from public.user_link_audit where audit_source = 'legacy' "
            "and (reason is not null or candidate_count is not null or previous_user_id is not null)"
        ).fetchone() == (0,)
        # the original table is kept as it was, out of the app schema, with its policy and its grants
        assert conn.execute(
            "select relrowsecurity, (select count(*) from pg_policy where polrelid = c.oid) "
            "from pg_class c where oid = 'delivery_linkage.user_link_audit_legacy'::regclass"
        ).fetchone() == (True, 1)
        assert conn.execute("select count(*) from public.user_link_audit_purge_runs").fetchone() == (1,)


def test_a_delivery_shows_its_original_and_its_new_audit_rows_together(conn):
    delivery = world_delivery(conn, "birthday/invitation", "birthday/ben")
    conn.execute("select public.backfill_guest_deliveries(%s, %s)", (G["birthday/ben"], U["ben"]))
    rows = [
        (row["audit_source"], row["table_name"], row["outcome"], row["linked_user_id"])
        for row in audit_of(conn, delivery)
    ]
    assert rows == [
        ("legacy", "message_deliveries", "no_match", None),  # sent before Ben signed up
        ("legacy", "message_deliveries", "linked", U["ben"]),  # the original's dry run: linked nothing
        ("linkage", "message_deliveries_backfill", "linked", U["ben"]),
    ]
    assert delivery_user(conn, delivery) == U["ben"]


def insert_deliveries(conn, rows) -> list[str]:
    """One multi-row INSERT as the app's server writes an announcement: ids in the order given."""
    values = ", ".join(["(%s::uuid, %s::uuid, %s)"] * len(rows))
    params = [value for row in rows for value in row]
    return [
        str(row[0])
        for row in conn.execute(
            f"insert into public.message_deliveries (message_id, guest_id, phone_number) values {values} returning id",
            params,
        )
    ]


def test_a_statement_mixing_links_with_missing_empty_and_invalid_phones_audits_every_delivery(upgraded_as):
    role, settings, _ = upgraded_as
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        message = new_message(conn)
        rows = [
            (message, G["wedding/ava"], "+15550000101"),  # linked guest
            (message, G["wedding/gus"], None),  # guest without a phone, not linked
            (message, G["wedding/hana"], ""),  # linked guest, empty phone
            (message, G["wedding/ivy"], "555-01"),  # unusable phone
            (message, G["wedding/fay"], "+15550000106"),  # guest not linked yet
            (message, None, "+15550000102"),  # no guest: Ben's phone in the event
            (message, None, None),  # no guest, no phone
            (message, None, "junk"),  # no guest, junk
        ]
        ids = insert_deliveries(conn, rows)
        decided = [
            [(r["table_name"], r["outcome"], r["reason"], r["linked_user_id"]) for r in audit_of(conn, delivery)]
            for delivery in ids
        ]
        assert decided == [
            [("message_deliveries", "linked", "guest_record", U["ava"])],
            [("message_deliveries", "no_match", "guest_not_linked", None)],
            [("message_deliveries", "linked", "guest_record", U["hana"])],
            [("message_deliveries", "no_match", "guest_not_linked", None)],
            [("message_deliveries", "no_match", "guest_not_linked", None)],
            [("message_deliveries", "linked", "guest_phone", U["ben"])],
            [("message_deliveries", "no_match", "no_phone", None)],
            [("message_deliveries", "no_match", "invalid_phone", None)],
        ], role
        every_row = conn.execute(
            "select count(*), count(event_id) from public.user_link_audit where record_id = any(%s::uuid[])", (ids,)
        ).fetchone()
        assert every_row == (8, 8)  # one row each, every one with its event (the original's NOT NULL)


def test_each_delivery_the_original_never_audited_has_its_audit_row(conn):
    # one statement each: the original returned before auditing all of these (no guest, so no event;
    # or a phone that normalizes to NULL)
    cases = {
        "guest without a phone": ("wedding/gus", None, "guest_not_linked"),
        "empty phone": ("wedding/ivy", "", "guest_not_linked"),
        "unusable phone": ("wedding/ivy", "555-01", "guest_not_linked"),
        "no guest, no phone": (None, None, "no_phone"),
        "no guest, blank phone": (None, "  ", "no_phone"),
        "no guest, junk": (None, "not a phone", "invalid_phone"),
    }
    for case, (guest, phone, reason) in cases.items():
        message = new_message(conn)
        [delivery] = insert_deliveries(conn, [(message, G.get(guest), phone)])
        audit = [(r["outcome"], r["reason"], str(r["event_id"])) for r in audit_of(conn, delivery)]
        assert audit == [("no_match", reason, E["wedding"])], case


def test_a_host_reads_the_audit_of_their_events_legacy_and_new_and_no_other(upgraded_as):
    role, settings, _ = upgraded_as
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for event, host in (("wedding", "hana"), ("birthday", "omar")):
            new_message_id = new_message(conn, event, host)
            conn.execute(
                "insert into public.message_deliveries (message_id, phone_number) values (%s, '+15550000101')",
                (new_message_id,),
            )
        everything = conn.execute(
            "select event_id::text, audit_source, count(*) from public.user_link_audit group by 1, 2"
        ).fetchall()
    by_event: dict[str, dict[str, int]] = {}
    for event_id, source, count in everything:
        by_event.setdefault(event_id, {})[source] = count
    assert by_event[E["wedding"]].keys() == by_event[E["birthday"]].keys() == {"legacy", "linkage"}
    for host, event in (("hana", "wedding"), ("omar", "birthday")):
        # the data API's way: authenticator switched to authenticated, the host's JWT; the app's policy
        # user_link_audit_host_access decides, on the original rows and on the new ones alike
        with uf.as_authenticated(settings, U[host]) as api:
            seen = api.execute(
                "select event_id::text, audit_source, count(*) from public.user_link_audit group by 1, 2"
            ).fetchall()
        seen_events = {event_id for event_id, _, _ in seen}
        assert seen_events <= {E["wedding"], E["birthday"], E["gala"]}
        seen_by_event = {event_id: {} for event_id in seen_events}
        for event_id, source, count in seen:
            seen_by_event[event_id][source] = count
        expected = {E[event]: by_event[E[event]]}
        if host == "omar" and E["gala"] in by_event:  # Omar hosts the gala too
            expected[E["gala"]] = by_event[E["gala"]]
        assert seen_by_event == expected, host
    with uf.as_authenticated(settings, U["ava"]) as api:  # a guest, host of nothing
        assert api.execute("select count(*) from public.user_link_audit").fetchone() == (0,)


def test_the_retention_operation_deletes_old_legacy_and_new_rows_and_logs_the_run(adopted_for_dbt, dbt_conn):
    # the birthday's original rows and one new attempt are 200 days old; the rest is recent
    old_legacy = dbt_conn.execute(
        "update delivery_linkage.user_link_audit_legacy set created_at = created_at - interval '200 days' "
        "where event_id = %s",
        (E["birthday"],),
    ).rowcount
    assert old_legacy > 0
    message = new_message(dbt_conn)
    [old_delivery] = insert_deliveries(dbt_conn, [(message, G["wedding/ava"], None)])
    [recent_delivery] = insert_deliveries(dbt_conn, [(message, G["wedding/ben"], None)])
    dbt_conn.execute(
        "update delivery_linkage.link_attempts set created_at = created_at - interval '200 days' "
        "where %s = any(record_ids)",
        (old_delivery,),
    )
    total_before = dbt_conn.execute("select count(*) from public.user_link_audit").fetchone()[0]

    result = dbt(adopted_for_dbt, "run-operation", "purge_audit", "--args", "{retain_days: 180}")
    result.check()
    assert dbt_conn.execute(
        "select retain_days, attempts_deleted, legacy_rows_deleted, cutoff < now() - interval '179 days' "
        "from delivery_linkage.link_audit_purge_runs"
    ).fetchall() == [(180, 1, old_legacy, True)]
    assert f"deleted {1 + old_legacy} rows" in result.output
    assert (
        total_before - dbt_conn.execute("select count(*) from public.user_link_audit").fetchone()[0] == 1 + old_legacy
    )
    assert dbt_conn.execute(
        "select count(*) from public.user_link_audit where created_at < now() - interval '180 days'"
    ).fetchone() == (0,)
    assert audit_of(dbt_conn, old_delivery) == []
    assert [row["reason"] for row in audit_of(dbt_conn, recent_delivery)] == ["guest_record"]
    # a purge deletes audit rows only
    assert dbt_conn.execute("select count(*) from public.message_deliveries").fetchone() == (42,)
