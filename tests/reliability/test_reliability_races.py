"""Deterministic two-connection interleavings: what the random runs found, and deadlocks resolved.

The tests marked xfail(strict=True) reproduce linkage bugs the suite found; they pass (and so fail
as XPASS, prompting the marker's removal) once the linkage is fixed. The proposed fixes are in the
reliability suite's report (tests/reliability/STRESS_RESULTS.md, "Bugs found"). The race between a
delivery insert and its guest's link, in both orders at every isolation level, is
tests/test_delivery_and_guest_link_race.py.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import reliability_support as rs

import world as w

pytestmark = pytest.mark.reliability
PHONE = "+15555550100"


def connect(settings):
    return rs.app_connection(settings, deadlock_timeout="100ms")


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
    event = w.event(db)
    first, second = w.user(db), w.user(db)
    guest = w.guest(db, event, first, PHONE)
    message = w.message(db, event)
    delivery = db.execute("select upsert_message_delivery(%s, %s, %s)", (message, guest, PHONE)).fetchone()[0]
    db.execute("update event_guests set user_id = %s where id = %s", (second, guest))  # relinked
    db.execute("select upsert_message_delivery(%s, %s, %s, 'sent')", (message, guest, PHONE))
    user = w.delivery_user(db, delivery)
    assert user in (first, second)
    assert rs.latest_audit_disagreements(db, [delivery]) == [], (user == second, w.audit_rows(db, record_id=delivery))


def test_a_guest_unlinked_while_a_send_is_being_audited_leaves_exactly_one_audit_row(app_db, db):
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE)
    pending = w.guest(db, event, None, "+15555550188")
    message = w.message(db, event)
    send = (
        "insert into message_deliveries (message_id, guest_id, phone_number) "
        "select %s, g.id, g.phone from event_guests g where g.id = any(%s) returning id, guest_id"
    )

    def send_both():
        result.update({g: d for d, g in sender.execute(send, (message, [guest, pending])).fetchall()})

    with connect(app_db) as operator, connect(app_db) as sender:
        # an uncommitted audit row holding the id the insert's audit will draw next makes that audit
        # statement wait (unique check) after it took its snapshot
        operator.execute("begin")
        next_id = operator.execute("select nextval(pg_get_serial_sequence('user_link_audit', 'id')) + 1").fetchone()[0]
        operator.execute(
            "insert into user_link_audit (id, table_name, outcome) values (%s, 'placeholder', 'skipped')", (next_id,)
        )
        result = {}
        thread = threading.Thread(target=send_both)
        thread.start()
        deadline = time.monotonic() + 10
        while not db.execute(
            "select count(*) from pg_locks where not granted and locktype = 'transactionid'"
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        db.execute("update event_guests set user_id = null where id = %s", (guest,))  # unlinked meanwhile
        operator.execute("rollback")
        thread.join(10)
    delivery = result[guest]
    assert w.delivery_user(db, delivery) == person
    rows = w.audit_rows(db, record_id=delivery)
    assert len(rows) == 1, [(r["outcome"], r["reason"]) for r in rows]


def test_a_deadlock_between_a_send_and_a_two_guest_link_is_resolved_and_the_retry_links_everything(app_db, db):
    """The app links two guests in one transaction while a send to both is in flight: PostgreSQL picks a
    victim, the app retries it, and both deliveries end linked."""
    event = w.event(db)
    first, second = w.guest(db, event, None, "+15555550101"), w.guest(db, event, None, "+15555550102")
    people = [w.user(db), w.user(db)]
    message = w.message(db, event)
    # the send inserts its rows in guest order: first, then second
    send = (
        "insert into message_deliveries (message_id, guest_id, phone_number) "
        "select %s, g.id, g.phone from unnest(%s::uuid[]) with ordinality as t(id, n) "
        "join event_guests g on g.id = t.id order by t.n"
    )
    errors = []
    with connect(app_db) as linker, connect(app_db) as sender:
        linker.execute("begin")
        linker.execute("update event_guests set user_id = %s where id = %s", (people[1], second))

        def send_all():
            for _ in range(5):
                try:
                    with sender.transaction():
                        sender.execute(send, (message, [first, second]))
                    return
                except psycopg.errors.DeadlockDetected as error:
                    errors.append(error)

        thread = threading.Thread(target=send_all)
        thread.start()
        time.sleep(0.3)  # the send holds `first` FOR SHARE and waits for `second`
        try:
            linker.execute("update event_guests set user_id = %s where id = %s", (people[0], first))
            linker.execute("commit")
        except psycopg.errors.DeadlockDetected as error:
            errors.append(error)
            linker.execute("rollback")
            thread.join(10)
            with linker.transaction():
                linker.execute("update event_guests set user_id = %s where id = %s", (people[1], second))
                linker.execute("update event_guests set user_id = %s where id = %s", (people[0], first))
        thread.join(10)
        assert not thread.is_alive()
    assert len(errors) == 1, errors
    rs.add("concurrency.deadlocks")
    linked = dict(
        db.execute("select guest_id, user_id from message_deliveries where message_id = %s", (message,)).fetchall()
    )
    assert linked == {first: people[0], second: people[1]}
    assert rs.linkable_null(db) == 0
    assert rs.audit_disagreements(db) == []
