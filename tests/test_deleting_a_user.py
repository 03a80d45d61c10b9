"""Deleting a user never leaves a delivery pointing at a user that no longer exists, whatever order the
foreign keys to users were created in; a foreign-key action never relinks, and a delivery cleared by it
is linked to its guest's current user.

Asserted through the runbook's interfaces only (message_deliveries, user_link_audit).
"""

from __future__ import annotations

import pytest

from app_sessions import session, start, wait_until_blocked_or_done
from delivery_linkage_devtools.testing import world as w

PHONE = "+15555550100"


def linked_rows(db, delivery) -> list[dict]:
    """The delivery's audit rows that say the linkage linked it."""
    return [r for r in w.audit_rows(db, record_id=delivery) if r["outcome"] == "linked"]


def recreate_user_keys_on_delete_set_null(db, order):
    """Drops and recreates both foreign keys to users ON DELETE SET NULL, in this order (PostgreSQL runs
    the actions of a user's deletion in the order the keys were created)."""
    for table in order:
        for (name,) in db.execute(
            "select conname from pg_constraint where conrelid = %s::regclass and contype = 'f' "
            "and confrelid = 'users'::regclass",
            (table,),
        ).fetchall():
            db.execute(f'alter table {table} drop constraint "{name}"')
        db.execute(
            f"alter table {table} add constraint {table}_user_id_fkey foreign key (user_id) "
            "references users (id) on delete set null"
        )


@pytest.mark.parametrize(
    "order",
    [("message_deliveries", "event_guests"), ("event_guests", "message_deliveries")],
    ids=["guests_key_recreated_after_deliveries_key", "deliveries_key_recreated_after_guests_key"],
)
def test_deleting_a_user_never_leaves_a_delivery_pointing_at_a_user_that_no_longer_exists(db, order):
    recreate_user_keys_on_delete_set_null(db, order)
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, delivery) == person
    links_before = len(linked_rows(db, delivery))

    db.execute("delete from users where id = %s", (person,))

    dangling = db.execute(
        "select count(*) from message_deliveries d "
        "where d.user_id is not null and not exists (select 1 from users u where u.id = d.user_id)"
    ).fetchone()[0]
    assert dangling == 0, "a delivery points at the deleted user"
    assert w.delivery_user(db, delivery) is None, "the foreign-key action must not relink the delivery"
    assert len(linked_rows(db, delivery)) == links_before, "a foreign-key action is not a link"


@pytest.mark.parametrize(
    "order",
    [("message_deliveries", "event_guests"), ("event_guests", "message_deliveries")],
    ids=["guests_key_recreated_after_deliveries_key", "deliveries_key_recreated_after_guests_key"],
)
def test_deleting_the_user_of_a_delivery_whose_guest_was_relinked_since_links_it_to_the_guests_user(db, order):
    """A delivery keeps the user it had when its guest is relinked to another user; deleting the first
    user clears it, and it must not stay NULL while its guest is active and linked."""
    recreate_user_keys_on_delete_set_null(db, order)
    event = w.event(db)
    first, second = w.user(db, PHONE), w.user(db)
    guest = w.guest(db, event, first, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("update event_guests set user_id = %s where id = %s", (second, guest))
    assert w.delivery_user(db, delivery) == first, "a relink of the guest leaves a delivery's user alone"

    db.execute("delete from users where id = %s", (first,))

    assert w.delivery_user(db, delivery) == second
    latest = linked_rows(db, delivery)[-1]
    assert (latest["table_name"], latest["linked_user_id"], latest["reason"]) == (
        "message_deliveries", second, "guest_relinked"
    ), w.audit_rows(db, record_id=delivery)


def test_a_delivery_held_while_its_user_is_deleted_is_linked_to_its_relinked_guests_user_by_the_sweeper(
    app_db, db
):
    """The deletion's relink skips a delivery row another transaction holds (it never waits on the app);
    the key's SET NULL then waits for that transaction and clears it. Its guest, relinked since, is
    linkable: the delivery must not stay NULL — the sweeper links it."""
    recreate_user_keys_on_delete_set_null(db, ("message_deliveries", "event_guests"))
    event = w.event(db)
    first, second = w.user(db, PHONE), w.user(db)
    guest = w.guest(db, event, first, PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, PHONE)
    db.execute("update event_guests set user_id = %s where id = %s", (second, guest))
    w.sweep(db)
    with session(app_db) as holder, session(app_db) as deleter:
        holder.execute("begin")
        holder.execute("update message_deliveries set sms_status = 'sent' where id = %s", (delivery,))
        deleting = start(deleter.execute, "delete from users where id = %s", (first,))
        assert wait_until_blocked_or_done(db, deleter.info.backend_pid, deleting), "the key's action did not wait"
        holder.execute("commit")
        deleting.result()
    assert w.delivery_user(db, delivery) is None  # cleared by the key's action, after the holder

    w.sweep(db)

    assert w.delivery_user(db, delivery) == second
    assert w.unexplained_linkable_null_count(db) == 0
