"""The four rule and audit bugs of issue 9, each as the behaviour the runbook promises.

1. With the users-phone fallback on, a delivery naming a guest that is not linkable links by the
   users' phones exactly as `link_user_by_phone` says for the same event and phone.
2. The app's upsert writing `user_id = excluded.user_id` (or `coalesce(excluded.user_id, …)`) onto
   an existing NULL delivery is a link: it is audited.
3. Deleting a user never leaves a delivery pointing at a user that no longer exists, whatever order
   the foreign keys to users were created in; a foreign-key action never relinks.
4. A flag held twice in an adopted `feature_flags` table is read one way by every reader.

Asserted through the runbook's interfaces only (message_deliveries, user_link_audit,
link_user_by_phone, get_feature_flag), not the linkage's internal tables.
"""

from __future__ import annotations

import psycopg
import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import world as w

GUEST_PHONE, USER_PHONE = "+15555550100", "+15555550177"
LINKAGE_TABLES = ("message_deliveries", "message_deliveries_backfill")


def linkage_audit(db, delivery) -> list[dict]:
    """The delivery's audit rows written by this project (audit_source 'linkage' where the view has it)."""
    return [r for r in w.audit_rows(db, record_id=delivery) if r.get("audit_source", "linkage") == "linkage"]


def linked_rows(db, delivery) -> list[dict]:
    return [r for r in linkage_audit(db, delivery) if r["outcome"] == "linked" and r["table_name"] in LINKAGE_TABLES]


def link_user_by_phone(db, event, phone) -> dict:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute("select * from link_user_by_phone(%s, %s)", (event, phone)).fetchone()


# --- 1 -----------------------------------------------------------------------------------------------


def test_users_phone_fallback_links_a_delivery_naming_an_unlinkable_guest_as_link_user_by_phone_says(db):
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    event = w.event(db)
    guest = w.guest(db, event, None, GUEST_PHONE)  # active, no account yet
    person = w.user(db, USER_PHONE)  # the only user with this phone; no guest of the event has it
    message = w.message(db, event)

    expected = link_user_by_phone(db, event, USER_PHONE)
    assert (expected["user_id"], expected["outcome"], expected["reason"]) == (person, "linked", "user_phone")

    delivery = w.deliver(db, message, guest, USER_PHONE)
    assert w.delivery_user(db, delivery) == person, linkage_audit(db, delivery)
    assert [(r["linked_user_id"], r["reason"]) for r in linked_rows(db, delivery)] == [(person, "user_phone")]


# --- 2 -----------------------------------------------------------------------------------------------

UPSERTS = {
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


@pytest.mark.parametrize("style", list(UPSERTS))
def test_app_upsert_that_links_an_existing_null_delivery_writes_an_audit_row(db, style):
    event = w.event(db)
    person = w.user(db, GUEST_PHONE)
    message = w.message(db, event)
    # a delivery left NULL while linking was off, for a guest linked meanwhile
    w.set_flag(db, "LINK_USER_BY_PHONE", False)
    guest = w.guest(db, event, person, GUEST_PHONE)
    args = {"message": message, "guest": guest, "phone": GUEST_PHONE, "status": "pending"}
    db.execute(UPSERTS[style], args)
    delivery = db.execute(
        "select id from message_deliveries where message_id = %s and guest_id = %s", (message, guest)
    ).fetchone()[0]
    assert w.delivery_user(db, delivery) is None
    w.set_flag(db, "LINK_USER_BY_PHONE", True)

    db.execute(UPSERTS[style], args | {"status": "sent"})  # the app's status callback, same RPC

    assert w.delivery_user(db, delivery) == person
    assert [r["linked_user_id"] for r in linked_rows(db, delivery)] == [person], linkage_audit(db, delivery)


# --- 3 -----------------------------------------------------------------------------------------------


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
    person = w.user(db, GUEST_PHONE)
    guest = w.guest(db, event, person, GUEST_PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, GUEST_PHONE)
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
    """Found by `make concurrency` (deliveries linkable but NULL at quiescence): a delivery keeps the user
    it had when its guest is relinked to another user; deleting the first user clears it, and it must not
    stay NULL while its guest is active and linked."""
    recreate_user_keys_on_delete_set_null(db, order)
    event = w.event(db)
    first, second = w.user(db, GUEST_PHONE), w.user(db)
    guest = w.guest(db, event, first, GUEST_PHONE)
    delivery = w.deliver(db, w.message(db, event), guest, GUEST_PHONE)
    db.execute("update event_guests set user_id = %s where id = %s", (second, guest))
    assert w.delivery_user(db, delivery) == first, "a relink of the guest leaves a delivery's user alone"

    db.execute("delete from users where id = %s", (first,))

    assert w.delivery_user(db, delivery) == second
    latest = linked_rows(db, delivery)[-1]
    assert (latest["table_name"], latest["linked_user_id"], latest["reason"]) == (
        "message_deliveries", second, "guest_relinked"
    ), linkage_audit(db, delivery)


# --- 4 -----------------------------------------------------------------------------------------------


def deploy_over_flags_held_twice(settings, values):
    """An app database whose own feature_flags table (no unique name) holds both linkage flags twice,
    then the linkage deployed onto it by dbt."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as db:
        db.execute("create table feature_flags (flag_name text, enabled boolean, description text)")
        for flag_name in ("LINK_USER_BY_PHONE", "LINK_USER_BY_PHONE_FALLBACK_TO_USERS"):
            for value in values:
                db.execute("insert into feature_flags (flag_name, enabled) values (%s, %s)", (flag_name, value))
    dbt_runner.run_dbt(["run-operation", "deploy"], settings, target_path="target/pytest_flags_twice").check()


@pytest.mark.dbt
@pytest.mark.parametrize("values", [(False, True), (True, False)], ids=["off_then_on", "on_then_off"])
def test_a_flag_held_twice_in_an_adopted_table_is_read_one_way_by_the_insert_the_audit_and_get_feature_flag(
    bare_app_db, values
):
    deploy_over_flags_held_twice(bare_app_db, values)
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        linking = db.execute("select get_feature_flag('LINK_USER_BY_PHONE')").fetchone()[0]
        event = w.event(db)
        person = w.user(db, GUEST_PHONE)
        guest = w.guest(db, event, person, GUEST_PHONE)
        delivery = w.deliver(db, w.message(db, event), guest, GUEST_PHONE)
        decision = link_user_by_phone(db, event, GUEST_PHONE)

        # a guest linked later: the backfill reads LINK_USER_BY_PHONE the same way
        late_guest = w.guest(db, event, None, "+15555550155")
        late_delivery = w.deliver(db, w.message(db, event), late_guest, "+15555550155")
        late_person = w.user(db)
        db.execute("update event_guests set user_id = %s where id = %s", (late_person, late_guest))

        # linking on (both its rows), the fallback flag still held twice: a delivery naming no guest, to
        # the phone of exactly one user, is the users-phone fallback's case
        w.set_flag(db, "LINK_USER_BY_PHONE", True)
        fallback = db.execute("select get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS')").fetchone()[0]
        phone_user = w.user(db, USER_PHONE)
        phone_delivery = w.deliver(db, w.message(db, event), None, USER_PHONE)
        phone_decision = link_user_by_phone(db, event, USER_PHONE)

        # every reader, side by side, so a failure shows each one that disagrees
        observed = {
            "insert links": w.delivery_user(db, delivery) == person,
            "insert audit": [(r["outcome"], r["reason"]) for r in linkage_audit(db, delivery)],
            "link_user_by_phone": decision["outcome"],
            "backfill links": w.delivery_user(db, late_delivery) == late_person,
            "fallback: insert links": w.delivery_user(db, phone_delivery) == phone_user,
            "fallback: insert audit": [
                (r["reason"], r["phone_fallback_enabled"]) for r in linkage_audit(db, phone_delivery)
            ],
            "fallback: link_user_by_phone": phone_decision["reason"],
        }
        expected = {
            "insert links": linking,
            "insert audit": [("linked", "guest_record") if linking else ("skipped", "feature_disabled")],
            "link_user_by_phone": "linked" if linking else "skipped",
            "backfill links": linking,
            "fallback: insert links": fallback,
            "fallback: insert audit": [("user_phone" if fallback else "no_candidate", fallback)],
            "fallback: link_user_by_phone": "user_phone" if fallback else "no_candidate",
        }
        assert observed == expected, f"get_feature_flag says {linking=}, {fallback=}"
