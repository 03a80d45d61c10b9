"""The race of issue 2, closed in both orders at every isolation level.

A delivery is inserted for a guest while another transaction links that guest; the two overlap
(each begins and takes its snapshot before the other commits). Whatever the order and the two
isolation levels, neither side waits, fails or deadlocks; when both have committed the delivery is
linked already, or it is NULL and a queue entry names its guest; after the sweeper it is linked to
the guest's user and audited as such. Never a NULL delivery left for a linkable guest that nothing
explains.

Orders:
- delivery_first: the sender inserts (uncommitted); the linker links the guest; the sender commits,
  then the linker.
- link_first: the linker links (uncommitted); the sender inserts; the linker commits, then the sender.
Each in both commit orders (first_commits_first as above; second_commits_first: the one that wrote
second commits first) — nothing waits during the statements, so either may commit first.
"""

from __future__ import annotations

import psycopg
import pytest

from app_sessions import LEVEL_IDS, LEVELS, begin, rollback, session, start, wait_until_blocked_or_done
from delivery_linkage_devtools.testing import world as w

PHONE = "+15555550100"


class Side:
    """One app transaction of the race, retried as the app would after a serialization failure."""

    def __init__(self, conn, isolation, event, statement):
        self.conn, self.isolation, self.event, self.statement = conn, isolation, event, statement
        self.failures: list[str] = []

    def begin(self):
        begin(self.conn, self.isolation)
        # the transaction reads the event's guests first: its snapshot predates the other side's commit
        self.conn.execute("select count(*) from event_guests where event_id = %s", (self.event,)).fetchone()

    def write(self):
        try:
            self.statement(self.conn)
            return True
        except psycopg.errors.SerializationFailure as error:
            self.failed(error)
            return False

    def commit(self):
        try:
            self.conn.execute("commit")
        except psycopg.errors.SerializationFailure as error:
            self.failed(error)

    def failed(self, error):
        self.failures.append(str(error).splitlines()[0])
        rollback(self.conn)

    def retry_if_failed(self):
        if self.failures:
            self.begin()
            self.statement(self.conn)
            self.conn.execute("commit")


def race(app_db, db, order, sender_isolation, linker_isolation, commits="first_commits_first"):
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)
    message = w.message(db, event)
    person = w.user(db, PHONE)
    with session(app_db) as sending, session(app_db) as linking:
        sender = Side(sending, sender_isolation, event, lambda c: w.deliver(c, message, guest, PHONE))
        linker = Side(
            linking,
            linker_isolation,
            event,
            lambda c: c.execute("update event_guests set user_id = %s where id = %s", (person, guest)),
        )
        first, second = (sender, linker) if order == "delivery_first" else (linker, sender)
        try:
            first.begin()
            second.begin()
            if first.write():
                write = start(second.write)
                wait_until_blocked_or_done(db, second.conn.info.backend_pid, write)
                if commits == "first_commits_first" or write.is_alive():
                    first.commit()
                    if write.result():
                        second.commit()
                elif write.result():
                    second.commit()
                    first.commit()
                else:
                    first.commit()
            else:
                if second.write():
                    second.commit()
            rollback(first.conn)
            rollback(second.conn)
            first.retry_if_failed()
            second.retry_if_failed()
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as error:
            pytest.fail(f"the race ended in {type(error).__name__}: {error}")
    return message, guest, person, sender.failures + linker.failures


@pytest.mark.parametrize("linker_isolation", LEVELS, ids=[f"linker_{LEVEL_IDS[level]}" for level in LEVELS])
@pytest.mark.parametrize("sender_isolation", LEVELS, ids=[f"sender_{LEVEL_IDS[level]}" for level in LEVELS])
@pytest.mark.parametrize("commits", ["first_commits_first", "second_commits_first"])
@pytest.mark.parametrize("order", ["delivery_first", "link_first"])
def test_delivery_inserted_while_its_guest_is_being_linked_ends_up_linked(
    app_db, db, order, commits, sender_isolation, linker_isolation
):
    message, guest, person, serialization_failures = race(
        app_db, db, order, sender_isolation, linker_isolation, commits
    )
    assert serialization_failures == [], "the linkage made the app retry"
    assert w.unexplained_linkable_null_count(db) == 0, "a NULL delivery was left for a linkable guest, unexplained"
    assert w.sweep(db) == 0
    delivery, user = db.execute(
        "select id, user_id from message_deliveries where message_id = %s and guest_id = %s", (message, guest)
    ).fetchone()
    assert w.linkable_null_count(db) == 0, "a NULL delivery was left for a linkable guest after the sweeper"
    assert user == person
    linked = [
        r
        for r in w.audit_rows(db, record_id=delivery)
        if r["outcome"] == "linked" and r["table_name"] in ("message_deliveries", "message_deliveries_backfill")
    ]
    assert [r["linked_user_id"] for r in linked] == [person], w.audit_rows(db, record_id=delivery)
