"""The linkage rules, one behaviour per test, against a real PostgreSQL with the linkage deployed by dbt."""

from __future__ import annotations

import psycopg
import pytest

from app_sessions import session, start, wait_until_blocked_or_done
from delivery_linkage_devtools.testing import world as w

PHONE = "+15555550100"
LINKAGE_TABLES = ("message_deliveries", "message_deliveries_backfill")  # the audit's names for the linkage's links


def only_audit(conn, delivery_id):
    rows = w.audit_rows(conn, record_id=delivery_id)
    assert len(rows) == 1, rows
    return rows[0]


def link_decision(conn, event, phone) -> dict:
    """What link_user_by_phone decides for this event and phone."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute("select * from link_user_by_phone(%s, %s)", (event, phone)).fetchone()


def test_guest_record_links_a_new_delivery(db):
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, delivery) == person
    audit = only_audit(db, delivery)
    assert (audit["table_name"], audit["outcome"], audit["reason"], audit["candidate_count"]) == (
        "message_deliveries",
        "linked",
        "guest_record",
        1,
    )
    assert audit["linked_user_id"] == person and audit["matched_guest_id"] == guest
    assert audit["event_id"] == event and audit["normalized_phone"] == PHONE


def test_guest_record_wins_even_when_the_phone_is_shared(db):
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    w.guest(db, event, w.user(db, PHONE), "(555) 555-0100")
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, delivery) == person
    assert only_audit(db, delivery)["reason"] == "guest_record"


def test_guest_phone_links_a_delivery_that_names_no_guest(db):
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, "555.555.0100")
    delivery = w.deliver(db, w.message(db, event), None, "(555) 555-0100")
    assert w.delivery_user(db, delivery) == person
    audit = only_audit(db, delivery)
    assert (audit["reason"], audit["matched_guest_id"], audit["candidate_count"]) == ("guest_phone", guest, 1)


def test_ambiguous_guests_are_never_linked_even_by_the_fallback(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    person = w.user(db, PHONE)
    w.guest(db, event, person, PHONE)
    w.guest(db, event, None, "1-555-555-0100")
    delivery = w.deliver(db, w.message(db, event), None, PHONE)
    assert w.delivery_user(db, delivery) is None
    audit = only_audit(db, delivery)
    assert (audit["outcome"], audit["reason"], audit["candidate_count"]) == (
        "no_match",
        "ambiguous_guests",
        2,
    )


def test_removed_guests_do_not_count_as_candidates(db):
    event = w.event(db)
    person = w.user(db, PHONE)
    w.guest(db, event, person, PHONE)
    w.guest(db, event, w.user(db), PHONE, removed=True)
    delivery = w.deliver(db, w.message(db, event), None, PHONE)
    assert w.delivery_user(db, delivery) == person


def test_a_delivery_for_one_guest_never_links_to_another_guests_account(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    other_person = w.user(db, PHONE)
    w.guest(db, event, other_person, PHONE)
    intended = w.guest(db, event, None, None)
    delivery = w.deliver(db, w.message(db, event), intended, PHONE)
    assert w.delivery_user(db, delivery) is None
    assert only_audit(db, delivery)["reason"] == "guest_mismatch"


def test_removed_guest_record_does_not_link(db):
    event = w.event(db)
    guest = w.guest(db, event, w.user(db), None, removed=True)
    delivery = w.deliver(db, w.message(db, event), guest, None)
    assert w.delivery_user(db, delivery) is None
    assert only_audit(db, delivery)["reason"] == "guest_removed"


@pytest.mark.parametrize("fallback", [False, True])
def test_user_phone_links_only_while_the_fallback_flag_is_on(db, fallback):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", fallback)
    event = w.event(db)
    person = w.user(db, "+1 555 555 0100")
    delivery = w.deliver(db, w.message(db, event), None, PHONE)
    audit = only_audit(db, delivery)
    if fallback:
        assert w.delivery_user(db, delivery) == person
        assert (audit["reason"], audit["phone_fallback_enabled"]) == ("user_phone", True)
    else:
        assert w.delivery_user(db, delivery) is None
        assert (audit["outcome"], audit["reason"], audit["phone_fallback_enabled"]) == (
            "no_match",
            "no_candidate",
            False,
        )


def test_users_phone_fallback_links_a_delivery_naming_an_unlinkable_guest_as_link_user_by_phone_says(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)  # active, no account yet
    person = w.user(db, "+15555550177")  # the only user with this phone; no guest of the event has it
    message = w.message(db, event)

    expected = link_decision(db, event, "+15555550177")
    assert (expected["user_id"], expected["outcome"], expected["reason"]) == (person, "linked", "user_phone")

    delivery = w.deliver(db, message, guest, "+15555550177")
    audit = only_audit(db, delivery)
    assert w.delivery_user(db, delivery) == person, audit
    assert (audit["outcome"], audit["linked_user_id"], audit["reason"]) == ("linked", person, "user_phone")


def test_ambiguous_users_are_never_linked(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    w.user(db, PHONE)
    w.user(db, "5555550100")
    delivery = w.deliver(db, w.message(db, event), None, PHONE)
    assert w.delivery_user(db, delivery) is None
    audit = only_audit(db, delivery)
    assert (audit["outcome"], audit["reason"], audit["candidate_count"]) == ("no_match", "ambiguous_users", 2)


def test_unique_unlinked_guest_phone_falls_through_to_the_users_phone(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    person = w.user(db, PHONE)
    w.guest(db, event, None, PHONE)
    delivery = w.deliver(db, w.message(db, event), None, PHONE)
    assert w.delivery_user(db, delivery) == person
    assert only_audit(db, delivery)["reason"] == "user_phone"


@pytest.mark.parametrize("missing_row", [False, True])
def test_linking_disabled_skips_and_audits(db, missing_row):
    if missing_row:
        db.execute("delete from feature_flags where flag_name = 'LINK_USER_BY_PHONE'")
    else:
        w.set_flag(db, "LINK_USER_BY_PHONE", False)
    event = w.event(db)
    guest = w.guest(db, event, w.user(db, PHONE), PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, delivery) is None
    audit = only_audit(db, delivery)
    assert (audit["outcome"], audit["reason"]) == ("skipped", "feature_disabled")


def test_event_comes_from_the_message_when_the_delivery_names_no_guest(db):
    event = w.event(db)
    person = w.user(db)
    w.guest(db, event, person, PHONE)
    other_event = w.event(db)
    delivery = w.deliver(db, w.message(db, other_event), None, PHONE)
    assert w.delivery_user(db, delivery) is None
    assert only_audit(db, delivery)["event_id"] == other_event


def test_app_provided_user_is_never_overwritten_nor_audited(db):
    """A row the app sends with its own user_id keeps it and is no attempt, whether or not that user is
    its guest's (the row trigger notes it; the statement's audit leaves it out)."""
    event = w.event(db)
    guest_user, app_user = w.user(db), w.user(db)
    guest = w.guest(db, event, guest_user, PHONE)
    message = w.message(db, event)
    overwritten = w.deliver(db, message, guest, PHONE, user_id=app_user)
    same = w.deliver(db, w.message(db, event), guest, PHONE, user_id=guest_user)
    assert w.delivery_user(db, overwritten) == app_user
    assert w.audit_rows(db, record_id=overwritten) == []
    assert w.audit_rows(db, record_id=same) == []
    assert db.execute("select count(*) from delivery_linkage.app_linked_deliveries").fetchone() == (0,)


def test_a_link_whose_guest_changes_before_the_statement_is_audited_is_still_audited_as_the_link(app_db, db):
    """A send's row trigger links a delivery; before the statement's audit is written (held here by an
    operator's lock on the audit's storage) its guest is unlinked and committed. The audit still records
    the link the row trigger made — not the app's own user_id."""
    import threading
    import time

    from app_sessions import session

    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE)
    message = w.message(db, event)
    result = {}
    with session(app_db) as operator, session(app_db) as sender:
        operator.execute("begin")
        operator.execute("lock table delivery_linkage.link_attempts in share mode")
        thread = threading.Thread(
            target=lambda: result.update(delivery=w.deliver(sender, message, guest, PHONE)), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not db.execute(
            "select exists (select from pg_locks where pid = %s and not granted)", (sender.info.backend_pid,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the send's audit never waited"
            time.sleep(0.02)
        db.execute("update event_guests set user_id = null where id = %s", (guest,))
        operator.execute("rollback")
        thread.join(10)
    delivery = result["delivery"]
    assert w.delivery_user(db, delivery) == person
    assert [(r["outcome"], r["reason"], r["linked_user_id"]) for r in w.audit_rows(db, record_id=delivery)] == [
        ("linked", "guest_record", person)
    ]


def test_multi_row_insert_writes_one_audit_row_per_attempt(db):
    event = w.event(db)
    message = w.message(db, event)
    people = [w.user(db) for _ in range(5)]
    guests = [w.guest(db, event, person if i % 2 == 0 else None, f"+1555555020{i}") for i, person in enumerate(people)]
    provided = w.user(db)
    db.execute(
        "insert into message_deliveries (message_id, guest_id, phone_number, user_id) "
        "select %s, g, null, case when ordinality = 5 then %s::uuid end "
        "from unnest(%s::uuid[]) with ordinality as t(g, ordinality)",
        (message, provided, guests),
    )
    rows = db.execute(
        "select d.guest_id, d.user_id, a.outcome, a.reason from message_deliveries d "
        "left join user_link_audit a on a.record_id = d.id order by d.created_at, d.id"
    ).fetchall()
    by_guest = {guest: (user, outcome, reason) for guest, user, outcome, reason in rows}
    assert len(rows) == 5
    assert by_guest[guests[0]] == (people[0], "linked", "guest_record")
    assert by_guest[guests[1]] == (None, "no_match", "guest_not_linked")
    assert by_guest[guests[2]] == (people[2], "linked", "guest_record")
    assert by_guest[guests[4]] == (provided, None, None)


def test_status_update_does_no_linking_work_and_writes_no_audit(db):
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("update event_guests set user_id = null")  # nothing becomes linkable
    before = len(w.audit_rows(db))
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    db.execute("set track_functions = 'all'")
    with db.transaction():
        db.execute("update message_deliveries set sms_status = 'delivered' where id = %s", (delivery,))
        calls = db.execute(
            "select count(*) from pg_stat_xact_user_functions where funcname = 'auto_link_user_by_phone_trigger'"
        ).fetchone()[0]
    assert calls == 0
    assert len(w.audit_rows(db)) == before


def test_update_of_phone_relinks_and_audits(db):
    event = w.event(db)
    person = w.user(db)
    w.guest(db, event, person, PHONE)
    delivery = w.deliver(db, w.message(db, event), None, "+15555550999")
    assert w.delivery_user(db, delivery) is None
    db.execute("update message_deliveries set phone_number = %s where id = %s", (PHONE, delivery))
    assert w.delivery_user(db, delivery) == person
    assert [r["reason"] for r in w.audit_rows(db, record_id=delivery)] == ["no_candidate", "guest_phone"]


def test_upsert_path_links_the_same_way(db):
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE)
    message = w.message(db, event)
    first = db.execute("select upsert_message_delivery(%s, %s, %s)", (message, guest, PHONE)).fetchone()[0]
    assert w.delivery_user(db, first) == person
    # the app's ON CONFLICT DO UPDATE writes excluded.user_id: the proposed row was linked by the
    # BEFORE INSERT trigger, so the link survives the upsert
    second = db.execute("select upsert_message_delivery(%s, %s, %s, 'sent')", (message, guest, PHONE)).fetchone()[0]
    assert second == first
    assert w.delivery_user(db, first) == person
    # an upsert that clears user_id outright is linked again on its update path, and audited
    db.execute(
        "insert into message_deliveries (message_id, guest_id, phone_number) values (%s, %s, %s) "
        "on conflict (message_id, guest_id) do update set user_id = null, sms_status = 'failed'",
        (message, guest, PHONE),
    )
    assert w.delivery_user(db, first) == person
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=first)] == [
        ("linked", "guest_record"),
        ("linked", "guest_record"),
    ]


APP_UPSERTS = {
    # the project's fixture RPC: user_id = excluded.user_id
    "excluded": "select upsert_message_delivery(%(message)s, %(guest)s, %(phone)s, %(status)s)",
    # the app's own RPC: user_id = coalesce(excluded.user_id, message_deliveries.user_id)
    "coalesce": """
        insert into message_deliveries (message_id, guest_id, phone_number, user_id, sms_status)
        values (%(message)s, %(guest)s, %(phone)s, null, %(status)s)
        on conflict (message_id, guest_id) do update set
            sms_status = excluded.sms_status,
            phone_number = coalesce(excluded.phone_number, message_deliveries.phone_number),
            user_id = coalesce(excluded.user_id, message_deliveries.user_id),
            updated_at = now()
    """,
}


@pytest.mark.parametrize("style", list(APP_UPSERTS))
def test_app_upsert_that_links_an_existing_null_delivery_writes_an_audit_row(db, style):
    event = w.event(db)
    person = w.user(db, PHONE)
    message = w.message(db, event)
    # a delivery left NULL while linking was off, for a guest linked meanwhile
    w.set_flag(db, "LINK_USER_BY_PHONE", False)
    guest = w.guest(db, event, person, PHONE)
    args = {"message": message, "guest": guest, "phone": PHONE, "status": "pending"}
    db.execute(APP_UPSERTS[style], args)
    delivery = db.execute(
        "select id from message_deliveries where message_id = %s and guest_id = %s", (message, guest)
    ).fetchone()[0]
    assert w.delivery_user(db, delivery) is None
    w.set_flag(db, "LINK_USER_BY_PHONE", True)

    db.execute(APP_UPSERTS[style], args | {"status": "sent"})  # the app's status callback, same RPC

    assert w.delivery_user(db, delivery) == person
    audit = w.audit_rows(db, record_id=delivery)
    linked = [r["linked_user_id"] for r in audit if r["outcome"] == "linked" and r["table_name"] in LINKAGE_TABLES]
    assert linked == [person], audit


@pytest.mark.parametrize("style", list(APP_UPSERTS))
def test_an_upsert_whose_guest_is_unlinked_while_it_waits_for_the_row_still_audits_the_user_it_writes(
    app_db, db, style
):
    """The upsert's row trigger gives the proposed row its guest's user; the upsert then waits for the
    existing delivery's row (another transaction holds it), and meanwhile the guest is unlinked. Its
    update writes the user chosen before the wait: kept, as any value the app writes is, and audited
    (the app's write, message_deliveries_app_update), so the delivery's latest audit row names the
    user it has (seen in CI: latest row `no_match guest_not_linked` on a linked delivery)."""
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, None, PHONE)
    message = w.message(db, event)
    args = {"message": message, "guest": guest, "phone": PHONE, "status": "pending"}
    db.execute(APP_UPSERTS[style], args)
    delivery = db.execute(
        "select id from message_deliveries where message_id = %s and guest_id = %s", (message, guest)
    ).fetchone()[0]
    db.execute("update event_guests set user_id = %s where id = %s", (person, guest))  # the sweeper not run
    with session(app_db) as holder, session(app_db) as upserter:
        holder.execute("begin")
        holder.execute("update message_deliveries set provider_sid = 'SM1' where id = %s", (delivery,))
        upsert = start(upserter.execute, APP_UPSERTS[style], args | {"status": "sent"})
        assert wait_until_blocked_or_done(db, upserter.info.backend_pid, upsert), "the upsert did not wait"
        db.execute("update event_guests set user_id = null where id = %s", (guest,))
        holder.execute("commit")
        upsert.result()

    assert w.delivery_user(db, delivery) == person
    latest = w.audit_rows(db, record_id=delivery)[-1]
    assert (latest["table_name"], latest["outcome"], latest["reason"], latest["linked_user_id"]) == (
        "message_deliveries_app_update",
        "linked",
        "app_update",
        person,
    )


def test_an_upsert_sending_the_apps_own_user_down_its_conflict_path_leaves_no_note_behind(db):
    """The row trigger notes a row the app sends with its own user for the statement's audit; when the
    upsert's ON CONFLICT turns the proposed row into an update, the note goes with the statement too
    (the per-transaction notes are empty between statements)."""
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    message = w.message(db, event)
    upsert = (
        "insert into message_deliveries (message_id, guest_id, phone_number, user_id) values (%s, %s, %s, %s) "
        "on conflict (message_id, guest_id) do update set user_id = excluded.user_id, sms_status = 'sent'"
    )
    with db.transaction():
        db.execute(upsert, (message, guest, PHONE, person))  # inserted
        db.execute(upsert, (message, guest, PHONE, person))  # the conflict path
        notes = db.execute("select count(*) from delivery_linkage.app_linked_deliveries").fetchone()[0]
    assert notes == 0
    assert db.execute("select count(*) from message_deliveries where message_id = %s", (message,)).fetchone()[0] == 1


def test_link_user_by_phone_reports_the_decision(db):
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE)
    row = db.execute("select * from link_user_by_phone(%s, %s)", (event, "555-555-0100")).fetchone()
    assert row == (person, guest, "linked", "guest_phone", 1)
    row = db.execute("select * from link_user_by_phone(%s, %s)", (event, "not a phone")).fetchone()
    assert row[2:] == ("no_match", "invalid_phone", 0)


def test_get_feature_flag_is_false_for_unknown_flags(db):
    assert db.execute("select get_feature_flag('NO_SUCH_FLAG')").fetchone()[0] is False
    assert db.execute("select get_feature_flag('LINK_USER_BY_PHONE')").fetchone()[0] is True
    assert db.execute("select get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS')").fetchone()[0] is False


@pytest.mark.parametrize(
    "phone",
    [
        "",
        None,
        "   ",
        "+",
        "abc",
        "٥٥٥٥٥٥٠١٠٠",
        "＋15555550100",
        "555\u200b5550100",
        "5" * 5000,
        "+0123456789",
        "'; drop table users; --",
    ],
)
def test_bad_phones_never_fail_the_write_and_are_audited(db, phone):
    event = w.event(db)
    delivery = w.deliver(db, w.message(db, event), None, phone)
    audit = only_audit(db, delivery)
    assert audit["outcome"] == "no_match"
    assert audit["reason"] in {"no_phone", "invalid_phone"}
    assert w.delivery_user(db, delivery) is None


def test_missing_guest_message_and_event_never_fail_the_write(db):
    import uuid

    db.execute("alter table message_deliveries drop constraint message_deliveries_message_id_fkey")
    orphan = w.deliver(db, uuid.uuid4(), uuid.uuid4(), PHONE)
    nothing = w.deliver(db, None, None, None)
    assert only_audit(db, orphan)["reason"] == "no_event"
    assert only_audit(db, nothing)["reason"] == "no_event"


def test_guest_link_backfills_its_null_deliveries_and_leaves_linked_ones_alone(db):
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)
    messages = [w.message(db, event) for _ in range(3)]
    pending = [w.deliver(db, m, guest, PHONE) for m in messages[:2]]
    app_user = w.user(db)
    kept = w.deliver(db, messages[2], guest, PHONE, user_id=app_user)
    person = w.user(db)
    db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    # the link's transaction only queues the guest: it holds no delivery row for the linkage
    assert [w.delivery_user(db, d) for d in pending] == [None, None]
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    assert [w.delivery_user(db, d) for d in pending] == [person, person]
    assert w.delivery_user(db, kept) == app_user
    backfill = w.audit_rows(db, table_name="message_deliveries_backfill")
    assert sorted(r["record_id"] for r in backfill) == sorted(pending)
    assert {(r["outcome"], r["reason"], r["linked_user_id"]) for r in backfill} == {("linked", "guest_linked", person)}


def test_restoring_a_linked_guest_backfills(db):
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE, removed=True)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, delivery) is None
    db.execute("update event_guests set removed_at = null where id = %s", (guest,))
    w.sweep(db)
    assert w.delivery_user(db, delivery) == person


def test_relinking_a_guest_fills_only_null_deliveries(db):
    event = w.event(db)
    first, second = w.user(db), w.user(db)
    guest = w.guest(db, event, first, PHONE)
    linked = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("update event_guests set user_id = null where id = %s", (guest,))
    pending = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("update event_guests set user_id = %s where id = %s", (second, guest))
    w.sweep(db)
    assert w.delivery_user(db, linked) == first
    assert w.delivery_user(db, pending) == second


# the app linking many guests in one statement, each to its own user
LINK_GUESTS = "update event_guests g set user_id = t.u from unnest(%s::uuid[], %s::uuid[]) as t(g, u) where g.id = t.g"


def guests_sent_to_before_their_accounts(db, count: int) -> tuple[list, list]:
    """count guests of one event, each sent the same message before it has an account; and a user for
    each, not linked yet."""
    event = w.event(db)
    message = w.message(db, event)
    guests = [w.guest(db, event, None, None) for _ in range(count)]
    for guest in guests:
        w.deliver(db, message, guest, None)
    return guests, [w.user(db) for _ in guests]


def test_bulk_guest_link_is_backfilled_by_the_sweeper_in_one_set_based_statement(db):
    guests, people = guests_sent_to_before_their_accounts(db, 50)
    db.execute(LINK_GUESTS, (guests, people))
    db.execute("set track_functions = 'all'")
    with db.transaction():
        left = db.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0]
        calls = db.execute(
            "select funcname, calls from pg_stat_xact_user_functions where funcname like 'backfill_guest_deliveries'"
        ).fetchall()
    assert left == 0
    assert w.linkable_null_count(db) == 0
    assert sum(c for _, c in calls) == 1, calls
    assert len(w.audit_rows(db, table_name="message_deliveries_backfill")) == 50


def test_guest_link_with_linking_disabled_links_nothing_and_audits_skips(db):
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    w.set_flag(db, "LINK_USER_BY_PHONE", False)
    db.execute("update event_guests set user_id = %s where id = %s", (w.user(db), guest))
    w.sweep(db)
    assert w.delivery_user(db, delivery) is None
    rows = w.audit_rows(db, table_name="message_deliveries_backfill")
    assert [(r["outcome"], r["reason"]) for r in rows] == [("skipped", "feature_disabled")]


def test_manual_backfill_links_only_for_the_guests_own_user(db):
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, None, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    assert db.execute("select backfill_guest_deliveries(%s, %s)", (guest, w.user(db))).fetchone()[0] == 0
    assert db.execute("select backfill_guest_deliveries(%s, %s)", (guest, person)).fetchone()[0] == 1
    assert w.delivery_user(db, delivery) == person
    assert w.audit_rows(db, table_name="message_deliveries_backfill")[-1]["reason"] == "manual_backfill"


def test_statement_timeout_in_the_app_leaves_no_partial_linking(db):
    guests, people = guests_sent_to_before_their_accounts(db, 200)
    db.execute(
        "create function slow_down() returns trigger language plpgsql "
        "as $$ begin perform pg_sleep(0.5); return null; end $$"
    )
    db.execute("create trigger zz_slow after update on event_guests for each statement execute function slow_down()")
    with pytest.raises(psycopg.errors.QueryCanceled):
        with db.transaction():
            db.execute("set local statement_timeout = '200ms'")
            db.execute(LINK_GUESTS, (guests, people))
    assert db.execute("select count(*) from message_deliveries where user_id is not null").fetchone()[0] == 0
    assert w.audit_rows(db, table_name="message_deliveries_backfill") == []
