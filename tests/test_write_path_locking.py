"""The linkage takes no lock an app send would not take without it (issue 9, "Locking").

Two app sessions, interleaved step by step: sends to guests not linked yet never wait on another
send, nor on a guest update that does not change the guest's linkability, and never deadlock.
A send that waits fails fast here (lock_timeout 300 ms), so these tests fail quickly on a design
that blocks. Every isolation level, both sessions at the same level.
"""

from __future__ import annotations

import psycopg
import pytest

from app_sessions import LEVEL_IDS, LEVELS, begin, session, start, wait_until_blocked_or_done
from delivery_linkage_devtools.testing import world as w

FIRST_PHONE, SECOND_PHONE = "+15555550101", "+15555550102"
SHORT_WAIT = "300ms"  # longer than any statement here takes; shorter than anything a human would wait for

levels = pytest.mark.parametrize("isolation", LEVELS, ids=[LEVEL_IDS[level] for level in LEVELS])


def two_unlinked_guests(db):
    event = w.event(db)
    guests = w.guest(db, event, None, FIRST_PHONE), w.guest(db, event, None, SECOND_PHONE)
    return event, guests, (w.message(db, event), w.message(db, event))


def sent(db, message, guest):
    return db.execute(
        "select count(*) from message_deliveries where message_id = %s and guest_id = %s", (message, guest)
    ).fetchone()[0]


def second_does_not_wait_for_first(app_db, isolation, first, second, what_waited: str):
    """Runs first(a) in session a, its transaction left open, then second(b) in session b (a short
    lock_timeout); fails the test when second waited for a. Both commit; returns what second returned."""
    with session(app_db) as a, session(app_db, lock_timeout=SHORT_WAIT) as b:
        begin(a, isolation)
        first(a)
        begin(b, isolation)
        try:
            result = second(b)
        except psycopg.errors.LockNotAvailable as error:
            pytest.fail(f"{what_waited}: {error}")
        b.execute("commit")
        a.execute("commit")
    return result


@levels
def test_two_senders_inserting_for_two_unlinked_guests_in_opposite_orders_both_commit(app_db, db, isolation):
    """A: send (m1, g1); B: send (m2, g2); A: send (m1, g2); B: send (m2, g1). Without the linkage no
    row is shared and both commit; the linkage must not add a lock that makes this a deadlock."""
    _, (first, second), (m1, m2) = two_unlinked_guests(db)
    with session(app_db) as a, session(app_db) as b:
        begin(a, isolation)
        w.deliver(a, m1, first, FIRST_PHONE)
        begin(b, isolation)
        w.deliver(b, m2, second, SECOND_PHONE)
        a_second = start(w.deliver, a, m1, second, SECOND_PHONE)
        wait_until_blocked_or_done(db, a.info.backend_pid, a_second)
        try:
            w.deliver(b, m2, first, FIRST_PHONE)
            b.execute("commit")
            a_second.result()
            a.execute("commit")
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as error:
            pytest.fail(f"two sends to guests not linked yet blocked each other: {type(error).__name__}: {error}")
    assert [sent(db, m, g) for m in (m1, m2) for g in (first, second)] == [1, 1, 1, 1]


@levels
def test_send_to_an_unlinked_guest_does_not_wait_for_an_open_transaction_that_sent_to_the_same_guest(
    app_db, db, isolation
):
    _, (guest, _), (m1, m2) = two_unlinked_guests(db)
    second_does_not_wait_for_first(
        app_db,
        isolation,
        lambda a: w.deliver(a, m1, guest, FIRST_PHONE),
        lambda b: w.deliver(b, m2, guest, FIRST_PHONE),
        "the send waited for another transaction's send to the same guest",
    )
    assert sent(db, m1, guest) == sent(db, m2, guest) == 1


@levels
def test_send_to_an_unlinked_guest_does_not_wait_for_an_open_transaction_that_edited_the_guests_display_name(
    app_db, db, isolation
):
    """The fixture's display name of a guest is event_guests.guest_name: editing it changes nothing the
    linkage decides on."""
    _, (guest, _), (message, _) = two_unlinked_guests(db)
    second_does_not_wait_for_first(
        app_db,
        isolation,
        lambda a: a.execute("update event_guests set guest_name = 'Dana (bride''s aunt)' where id = %s", (guest,)),
        lambda b: w.deliver(b, message, guest, FIRST_PHONE),
        "the send waited for another transaction's display-name edit of its guest",
    )
    assert sent(db, message, guest) == 1


@levels
def test_display_name_edit_does_not_wait_for_an_open_transaction_that_sent_to_the_unlinked_guest(
    app_db, db, isolation
):
    _, (guest, _), (message, _) = two_unlinked_guests(db)
    second_does_not_wait_for_first(
        app_db,
        isolation,
        lambda a: w.deliver(a, message, guest, FIRST_PHONE),
        lambda b: b.execute("update event_guests set guest_name = 'Dana' where id = %s", (guest,)),
        "the guest's display-name edit waited for another transaction's send to them",
    )
    assert sent(db, message, guest) == 1


@levels
def test_send_to_a_linked_guest_does_not_wait_for_an_open_transaction_that_edited_the_guests_display_name(
    app_db, db, isolation
):
    event = w.event(db)
    person = w.user(db, FIRST_PHONE)
    guest = w.guest(db, event, person, FIRST_PHONE)
    message = w.message(db, event)
    delivery = second_does_not_wait_for_first(
        app_db,
        isolation,
        lambda a: a.execute("update event_guests set guest_name = 'Dana' where id = %s", (guest,)),
        lambda b: w.deliver(b, message, guest, FIRST_PHONE),
        "the send waited for another transaction's display-name edit of its guest",
    )
    assert w.delivery_user(db, delivery) == person


def test_send_racing_the_deletion_of_its_guests_user_does_not_fail(app_db, db):
    """READ COMMITTED, keys to users ON DELETE SET NULL: a user is being deleted (uncommitted) while the
    app sends to their guest. Without the linkage the send writes user_id NULL and commits; the linkage
    must not turn it into a foreign-key error by copying the guest's user that is going away."""
    for table in ("message_deliveries", "event_guests"):
        db.execute(f"alter table {table} drop constraint {table}_user_id_fkey")
        db.execute(
            f"alter table {table} add constraint {table}_user_id_fkey foreign key (user_id) "
            "references users (id) on delete set null"
        )
    event = w.event(db)
    person = w.user(db, FIRST_PHONE)
    guest = w.guest(db, event, person, FIRST_PHONE)
    message = w.message(db, event)
    with session(app_db) as a, session(app_db) as b:
        begin(a, "read committed")
        a.execute("delete from users where id = %s", (person,))  # left open
        send = start(w.deliver, b, message, guest, FIRST_PHONE)
        wait_until_blocked_or_done(db, b.info.backend_pid, send)
        a.execute("commit")
        try:
            delivery = send.result()
        except psycopg.errors.ForeignKeyViolation as error:
            pytest.fail(f"the send failed because the linkage copied a user being deleted: {error}")
    assert w.delivery_user(db, delivery) is None
