"""Deterministic interleavings of two or three app sessions that the random runs cannot aim at.

Each test holds one session at a chosen point (an open transaction, or its audit write held back by
a lock on the audit's storage) while another changes what the first one decided on, then checks the
outcome against the rules: every delivery linked to its guest's user, each attempt audited once,
nothing waited for another app transaction, no deadlock. The race between a delivery insert and its
guest's link, one guest in both orders at every pair of isolation levels, is
tests/test_delivery_and_guest_link_race.py; sends that must not wait on each other are
tests/test_write_path_locking.py.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import reliability_support as rs

from app_sessions import LEVEL_IDS, LEVELS, begin, rollback, session
from delivery_linkage_devtools.testing import invariants
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.reliability
PHONE = "+15555550100"


def test_multi_row_insert_with_many_app_set_users_still_audits_the_rows_the_linkage_linked(db):
    event = w.event(db)
    message = w.message(db, event)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    others = [
        r[0]
        for r in db.execute(
            "insert into event_guests (event_id) select %s from generate_series(1, 1100) returning id", (event,)
        ).fetchall()
    ]
    app_user = w.user(db)
    linked_by_trigger = db.execute(
        "with inserted as (insert into message_deliveries (message_id, guest_id, phone_number, user_id) "
        " select %s, g, null, %s from unnest(%s::uuid[]) as g union all select %s, %s, %s, null "
        " returning id, guest_id) select id from inserted where guest_id = %s",
        (message, app_user, others, message, guest, PHONE, guest),
    ).fetchone()[0]
    assert w.delivery_user(db, linked_by_trigger) == person
    assert db.execute("select count(*) from user_link_audit").fetchone()[0] == 1, "only the attempt is audited"
    assert [r["reason"] for r in w.audit_rows(db, record_id=linked_by_trigger)] == ["guest_record"]


def test_upsert_conflict_path_never_changes_a_linked_delivery_behind_the_audits_back(db):
    """The app's RPC writes `user_id = excluded.user_id` on conflict: after the guest is relinked, and
    again after it is unlinked, the delivery's latest audit row names the user it has (and the user it
    had before)."""
    event = w.event(db)
    first, second = w.user(db), w.user(db)
    guest = w.guest(db, event, first, PHONE)
    message = w.message(db, event)
    delivery = db.execute("select upsert_message_delivery(%s, %s, %s)", (message, guest, PHONE)).fetchone()[0]
    for user, status in ((second, "sent"), (None, "delivered")):
        before = w.delivery_user(db, delivery)
        db.execute("update event_guests set user_id = %s where id = %s", (user, guest))
        db.execute("select upsert_message_delivery(%s, %s, %s, %s)", (message, guest, PHONE, status))
        assert invariants.latest_audit_disagreements(db, [delivery]) == [], w.audit_rows(db, record_id=delivery)
        if w.delivery_user(db, delivery) != before:
            assert w.audit_rows(db, record_id=delivery)[-1]["previous_user_id"] == before


def test_a_guest_unlinked_and_another_linked_while_a_sends_audit_is_held_back_audit_each_attempt_once(app_db, db):
    """A send to a linked and a not-yet-linked guest decides its rows, then its audit write waits (the
    audit's storage is locked by an operator); meanwhile the first guest is unlinked and the second
    linked, both committed — the guest link waits for nothing (it had nothing to backfill, so it never
    touched the audit's storage). The linked row keeps its user and its one guest_record row (the
    row trigger noted nothing for it: it is the linkage's link whatever its guest says now); the waiting
    row's attempt is deferred (its guest was linked before the audit was written) and the sweeper links
    it: one attempt row from the insert and one linked row naming the new user."""
    event = w.event(db)
    person, newcomer = w.user(db), w.user(db)
    guest = w.guest(db, event, person, PHONE)
    pending = w.guest(db, event, None, "+15555550188")
    message = w.message(db, event)
    result = {}

    def send_both():
        rows = sender.execute(
            "insert into message_deliveries (message_id, guest_id, phone_number) "
            "select %s, g.id, g.phone from event_guests g where g.id = any(%s) returning id, guest_id",
            (message, [guest, pending]),
        ).fetchall()
        result.update({g: d for d, g in rows})

    with rs.app_connection(app_db) as operator, rs.app_connection(app_db) as sender:
        operator.execute("begin")
        operator.execute("lock table delivery_linkage.link_attempts in share mode")
        thread = threading.Thread(target=send_both, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not db.execute(
            "select exists (select 1 from pg_locks where pid = %s and not granted "
            "and relation = 'delivery_linkage.link_attempts'::regclass)",
            (sender.info.backend_pid,),
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the send's audit write never waited"
            time.sleep(0.02)
        db.execute("update event_guests set user_id = null where id = %s", (guest,))
        db.execute("update event_guests set user_id = %s where id = %s", (newcomer, pending))
        operator.execute("rollback")
        thread.join(10)
        assert not thread.is_alive()

    w.sweep(db)
    linked, waiting = result[guest], result[pending]
    assert w.delivery_user(db, linked) == person
    assert [(r["outcome"], r["reason"], r["linked_user_id"]) for r in w.audit_rows(db, record_id=linked)] == [
        ("linked", "guest_record", person)
    ]
    assert w.delivery_user(db, waiting) == newcomer
    rows = w.audit_rows(db, record_id=waiting)
    attempts = [(r["outcome"], r["reason"]) for r in rows if r["table_name"] == "message_deliveries"]
    links = [(r["reason"], r["linked_user_id"]) for r in rows if r["outcome"] == "linked"]
    assert attempts == [("skipped", "deferred")], rows
    assert links == [("guest_linked", newcomer)], rows  # its guest was linked after the send: the sweeper backfills
    assert invariants.audit_disagreements(db) == []
    assert w.linkable_null_count(db) == 0


@pytest.mark.parametrize("commits", ["link_commits_first", "send_commits_first"])
@pytest.mark.parametrize("isolation", LEVELS, ids=[LEVEL_IDS[level] for level in LEVELS])
def test_a_send_to_two_guests_and_a_link_of_both_in_the_other_order_neither_wait_nor_deadlock(
    app_db, db, isolation, commits
):
    """The app links two guests in one transaction (second, then first) while a send to both (first,
    then second) is in flight. The old design's send waited on the link and one of them lost a
    deadlock; now neither statement waits nor fails at any isolation level; what the send could not
    see is queued, and after the sweeper both deliveries are linked."""
    event = w.event(db)
    first, second = w.guest(db, event, None, "+15555550101"), w.guest(db, event, None, "+15555550102")
    people = [w.user(db), w.user(db)]
    message = w.message(db, event)
    link = "update event_guests set user_id = %s where id = %s"
    send = (
        "insert into message_deliveries (message_id, guest_id, phone_number) "
        "select %s, g.id, g.phone from unnest(%s::uuid[]) with ordinality as t(id, n) "
        "join event_guests g on g.id = t.id order by t.n"
    )
    retried = []

    def commit(conn, again):
        try:
            conn.execute("commit")
        except psycopg.errors.SerializationFailure as error:
            retried.append(str(error).splitlines()[0])
            rollback(conn)
            begin(conn, isolation)  # the app retries its transaction as it was
            again(conn)
            conn.execute("commit")

    def link_both(conn):
        conn.execute(link, (people[1], second))
        conn.execute(link, (people[0], first))

    # statements that wait on the other session fail within the lock timeout: nothing may wait here
    with session(app_db, lock_timeout="1s") as linker, session(app_db, lock_timeout="1s") as sender:
        try:
            begin(linker, isolation)
            linker.execute(link, (people[1], second))
            begin(sender, isolation)
            sender.execute(send, (message, [first, second]))
            linker.execute(link, (people[0], first))
            if commits == "link_commits_first":
                commit(linker, link_both)
                commit(sender, lambda c: c.execute(send, (message, [first, second])))
            else:
                commit(sender, lambda c: c.execute(send, (message, [first, second])))
                commit(linker, link_both)
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as error:
            pytest.fail(f"{type(error).__name__}: {error}")

    assert retried == [], "the linkage made the app retry"
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    linked = dict(
        db.execute("select guest_id, user_id from message_deliveries where message_id = %s", (message,)).fetchall()
    )
    assert linked == {first: people[0], second: people[1]}, retried
    assert w.linkable_null_count(db) == 0
    assert invariants.audit_disagreements(db) == []
    rs.add("races.serialization_failures_retried", len(retried))
