"""The rules of issues 2 and 9 on the real app's schema after the upgrade, written the app's ways: its
RPC upsert_message_delivery, plain inserts, its sign-up trigger, as platform_owner, as the data API's
authenticated (a JWT sub, the app's policies) and service_role."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import unveil_fixture as uf
from adoption_support import (
    E,
    G,
    M,
    U,
    as_service_role,
    audit_of,
    delivery_user,
    new_audit,
    new_message,
    new_user,
    notices,
    upsert,
    world_delivery,
)

from delivery_linkage_devtools.testing.invariants import dangling_users
from delivery_linkage_devtools.testing.world import linkable_null, set_flag, sweep

pytestmark = pytest.mark.dbt
FALLBACK = "LINK_USER_BY_PHONE_FALLBACK_TO_USERS"


def guest_user(conn, guest) -> str | None:
    user = conn.execute("select user_id from public.event_guests where id = %s", (G[guest],)).fetchone()[0]
    return None if user is None else str(user)


# ---------------------------------------------------------------------------------------------------
# a delivery inserted without a user


def test_guest_record_links_a_delivery_written_through_the_apps_rpc(upgraded_as):
    _, settings, _ = upgraded_as
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        delivery = upsert(conn, new_message(conn), "wedding/ava", "(555) 000-0101")
        assert delivery_user(conn, delivery) == U["ava"]
        assert new_audit(conn, delivery) == [("linked", "guest_record", U["ava"])]


def test_guest_phone_links_a_delivery_that_names_no_guest(conn):
    # the original returned at once without a guest (no event, no audit); the event is the message's
    message = new_message(conn, "birthday", "omar")
    delivery = conn.execute(
        "insert into public.message_deliveries (message_id, phone_number) values (%s, '555.000.0102') returning id",
        (message,),
    ).fetchone()[0]
    assert delivery_user(conn, delivery) == U["ben"]
    [row] = audit_of(conn, delivery)
    assert (row["outcome"], row["reason"], row["matched_guest_id"], row["event_id"]) == (
        "linked",
        "guest_phone",
        G["birthday/ben"],
        E["birthday"],
    )


def test_the_users_fallback_links_only_while_its_flag_is_on(conn):
    # Dev's guest row was never linked; his user has the phone he was invited with
    message = new_message(conn)
    off = upsert(conn, message, "wedding/dev", "+15550000104")
    assert delivery_user(conn, off) is None
    assert new_audit(conn, off) == [("no_match", "guest_not_linked", None)]
    set_flag(conn, FALLBACK, True)
    on = upsert(conn, new_message(conn), "wedding/dev", "+15550000104")
    assert delivery_user(conn, on) == U["dev"]
    assert new_audit(conn, on) == [("linked", "user_phone", U["dev"])]
    assert guest_user(conn, "wedding/dev") is None  # the guest row is the app's to link
    # a phone no guest of the event has, one user has: Cleo's, in Omar's 40th
    nobody_invited = conn.execute(
        "insert into public.message_deliveries (message_id, phone_number) values (%s, '+15550000103') returning id",
        (new_message(conn, "birthday", "omar"),),
    ).fetchone()[0]
    assert delivery_user(conn, nobody_invited) == U["cleo"]
    set_flag(conn, FALLBACK, False)
    again = conn.execute(
        "insert into public.message_deliveries (message_id, phone_number) values (%s, '+15550000103') returning id",
        (new_message(conn, "birthday", "omar"),),
    ).fetchone()[0]
    assert delivery_user(conn, again) is None
    assert new_audit(conn, again) == [("no_match", "no_candidate", None)]


def test_ambiguity_cannot_arise_on_this_schema_so_every_decision_has_one_candidate_at_most(conn):
    set_flag(conn, FALLBACK, True)
    message = new_message(conn)
    for guest, phone in (("wedding/ava", "+15550000101"), ("wedding/dev", "+15550000104"), ("wedding/fay", None)):
        upsert(conn, message, guest, phone)
    assert conn.execute(
        "select count(*) from public.user_link_audit where audit_source = 'linkage' and candidate_count > 1"
    ).fetchone() == (0,)


def test_linking_switched_off_skips_and_audits(conn):
    set_flag(conn, "LINK_USER_BY_PHONE", False)
    delivery = upsert(conn, new_message(conn), "wedding/ava", "+15550000101")
    assert delivery_user(conn, delivery) is None
    assert new_audit(conn, delivery) == [("skipped", "feature_disabled", None)]


def test_a_user_set_by_the_app_is_never_overwritten_nor_audited(conn):
    message = new_message(conn)
    delivery = upsert(conn, message, "wedding/ava", "+15550000101", user_id=U["hana"])
    assert delivery_user(conn, delivery) == U["hana"]
    assert audit_of(conn, delivery) == []


def test_the_rpcs_conflict_path_links_a_null_delivery_and_audits_it(conn):
    # Ben's first delivery in B stayed NULL under the original; the app's retry of that send writes
    # user_id = coalesce(excluded.user_id, …): the proposed row's user, chosen by the insert trigger
    delivery = world_delivery(conn, "birthday/invitation", "birthday/ben")
    assert delivery_user(conn, delivery) is None
    assert upsert(conn, M["birthday/invitation"], "birthday/ben", "+15550000102", sms_status="sent") == delivery
    assert delivery_user(conn, delivery) == U["ben"]
    assert new_audit(conn, delivery) == [("linked", "guest_record", U["ben"])]
    # the proposed row was never stored: no audit row for it (the original wrote one)
    assert conn.execute(
        "select count(*) from public.user_link_audit a where audit_source = 'linkage' "
        "and not exists (select 1 from public.message_deliveries d where d.id = a.record_id)"
    ).fetchone() == (0,)


def test_a_status_update_does_no_linking_work_and_writes_no_audit(adopted_db):
    # as the superuser: track_functions is a superuser's setting
    with psycopg.connect(adopted_db.conninfo(), autocommit=True) as conn:
        delivery = world_delivery(conn, "birthday/invitation", "birthday/ben")
        before = audit_of(conn, delivery)
        conn.execute("set track_functions = 'all'")
        with conn.transaction():
            conn.execute("update public.message_deliveries set sms_status = 'delivered' where id = %s", (delivery,))
            calls = conn.execute(
                "select count(*) from pg_stat_xact_user_functions where funcname in "
                "('auto_link_user_by_phone_trigger', 'relink_updated_delivery', 'decide_delivery_links')"
            ).fetchone()[0]
        assert calls == 0
        # the original relinked on any update; now a status update leaves the link to the backfills
        assert delivery_user(conn, delivery) is None
        assert audit_of(conn, delivery) == before


# ---------------------------------------------------------------------------------------------------
# a guest becoming linkable


def test_a_guest_linked_at_sign_up_gets_every_null_delivery_in_every_event(conn):
    fay_deliveries = [
        str(row[0])
        for row in conn.execute(
            "select id from public.message_deliveries where guest_id in (%s, %s) order by id",
            (G["wedding/fay"], G["gala/fay"]),
        )
    ]
    assert len(fay_deliveries) == 5
    # the app's sign-up trigger links every guest row with her phone (link_guests_on_user_creation)
    fay = new_user(conn, "+15550000106", "Fay")
    assert guest_user(conn, "wedding/fay") == guest_user(conn, "gala/fay") == fay
    assert sweep(conn) == 0  # the links queued both guests; the sweeper backfills them
    for delivery in fay_deliveries:
        assert delivery_user(conn, delivery) == fay
        assert [
            (r["table_name"], r["linked_user_id"]) for r in audit_of(conn, delivery) if r["audit_source"] == "linkage"
        ] == [("message_deliveries_backfill", fay)]


def test_a_relinked_guest_gives_its_new_user_only_the_deliveries_without_one(conn):
    unlinked = world_delivery(conn, "birthday/invitation", "birthday/ben")
    linked = world_delivery(conn, "birthday/moved", "birthday/ben")
    assert (delivery_user(conn, unlinked), delivery_user(conn, linked)) == (None, U["ben"])
    other = new_user(conn, "+15550000777", "Ben's new account")
    conn.execute("update public.event_guests set user_id = %s where id = %s", (other, G["birthday/ben"]))
    sweep(conn)
    assert (delivery_user(conn, unlinked), delivery_user(conn, linked)) == (other, U["ben"])
    assert new_audit(conn, unlinked)[-1][2] == other


def test_a_restored_guest_gets_its_null_delivery(conn):
    first = world_delivery(conn, "wedding/save-the-date", "wedding/cleo")
    assert delivery_user(conn, first) is None
    conn.execute("update public.event_guests set removed_at = null where id = %s", (G["wedding/cleo"],))
    sweep(conn)
    assert delivery_user(conn, first) == U["cleo"]
    assert [r["table_name"] for r in audit_of(conn, first) if r["audit_source"] == "linkage"] == [
        "message_deliveries_backfill"
    ]


def test_deleting_a_user_never_leaves_a_delivery_pointing_at_them(conn):
    bens = [
        str(row[0]) for row in conn.execute("select id from public.message_deliveries where user_id = %s", (U["ben"],))
    ]
    assert len(bens) >= 3
    conn.execute("delete from public.users where id = %s", (U["ben"],))
    assert dangling_users(conn) == 0
    assert all(delivery_user(conn, delivery) is None for delivery in bens)
    assert conn.execute(
        "select count(*) from public.user_link_audit where audit_source = 'linkage' and linked_user_id = %s",
        (U["ben"],),
    ).fetchone() == (0,)


def linkable_null_in_the_world(conn) -> set[str]:
    """The two deliveries the original left linkable but NULL (see 04_world.sql)."""
    return {
        world_delivery(conn, "birthday/invitation", "birthday/ben"),
        world_delivery(conn, "wedding/dress-code", "wedding/ava"),
    }


@pytest.mark.parametrize("restore_commits_first", [True, False], ids=["restore-commits-first", "send-commits-first"])
@pytest.mark.parametrize("restore_starts_first", [True, False], ids=["restore-starts-first", "send-starts-first"])
def test_a_send_racing_a_guest_restore_ends_up_linked_and_nobody_waits(
    adopted_db, conn, restore_starts_first, restore_commits_first
):
    # the app's two writers through its data API (service_role): Cleo's guest row (linked, removed) is
    # restored while a send to it is in flight; neither sees the other's uncommitted row
    message = new_message(conn)
    with as_service_role(adopted_db) as restorer, as_service_role(adopted_db) as sender:
        for writer in (restorer, sender):
            writer.execute("begin")
            writer.execute("set local lock_timeout = '2s'")  # any wait fails the test

        def restore():
            restorer.execute("update public.event_guests set removed_at = null where id = %s", (G["wedding/cleo"],))

        if restore_starts_first:
            restore()
            delivery = upsert(sender, message, "wedding/cleo", "+15550000103")
        else:
            delivery = upsert(sender, message, "wedding/cleo", "+15550000103")
            restore()
        assert delivery_user(sender, delivery) is None  # the restore is not visible to the send yet
        first, second = (restorer, sender) if restore_commits_first else (sender, restorer)
        first.execute("commit")
        second.execute("commit")
    sweep(conn)
    assert delivery_user(conn, delivery) == U["cleo"]
    assert linkable_null(conn) == linkable_null_in_the_world(conn)
    assert [r["linked_user_id"] for r in audit_of(conn, delivery) if r["outcome"] == "linked"] == [U["cleo"]]


def waits_on_a_lock(observer, connection, timeout=10.0) -> bool:
    """Whether `connection` is (or soon is) waiting for a lock; `observer` must see every session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = observer.execute(
            "select wait_event_type from pg_stat_activity where pid = %s", (connection.info.backend_pid,)
        ).fetchone()
        if state and state[0] == "Lock":
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("linkage", ["on", "off"])
@pytest.mark.parametrize("link_starts_first", [True, False], ids=["link-starts-first", "send-starts-first"])
def test_a_send_racing_a_guest_link_waits_only_on_the_apps_own_foreign_key_and_ends_up_linked(
    adopted_db, conn, link_starts_first, linkage
):
    # On this schema event_guests.user_id is part of a unique key (unique_event_guest_user), so linking a
    # guest is a key update, and a send to that guest checks its foreign key with FOR KEY SHARE: the
    # app's own locks make whichever starts second wait for the first to commit, with or without the
    # linkage (linkage off: the control). The linkage adds no wait, and the delivery ends up linked.
    if linkage == "off":
        conn.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    kim = new_user(conn, "+15550000555", "Kim")  # another phone: the sign-up trigger links nothing
    message = new_message(conn)
    with (
        as_service_role(adopted_db) as linker,
        as_service_role(adopted_db) as sender,
        ThreadPoolExecutor(1) as pool,
    ):
        for writer in (linker, sender):
            writer.execute("begin")
            writer.execute("set local lock_timeout = '20s'")  # a test that goes wrong ends

        def link():
            linker.execute("update public.event_guests set user_id = %s where id = %s", (kim, G["wedding/kim-again"]))

        def send():
            return upsert(sender, message, "wedding/kim-again", "+15550000109")

        first, second = (link, send) if link_starts_first else (send, link)
        first_connection, second_connection = (linker, sender) if link_starts_first else (sender, linker)
        started = first()
        pending = pool.submit(second)
        with psycopg.connect(adopted_db.conninfo(), autocommit=True) as observer:
            assert waits_on_a_lock(observer, second_connection)
        first_connection.execute("commit")
        delivery = pending.result(timeout=30) or started
        second_connection.execute("commit")
    if linkage == "on":
        sweep(conn)
    assert delivery_user(conn, delivery) == (kim if linkage == "on" else None)


# ---------------------------------------------------------------------------------------------------
# the app's roles


def test_a_host_writing_as_authenticated_through_the_apps_policies_links_and_audits(adopted_db, conn):
    with uf.as_authenticated(adopted_db, U["hana"]) as host:
        since = host.execute("select clock_timestamp()").fetchone()[0]
        message = new_message(host, content="Rain plan")
        # no RETURNING: the app's SELECT policy shows a linked delivery to its user only (as before the
        # upgrade, an INSERT … RETURNING of a delivery linked to someone else is refused)
        host.execute(
            "insert into public.message_deliveries (message_id, guest_id, phone_number) "
            "values (%s, %s, '+15550000101'), (%s, %s, '+15550000106')",
            (message, G["wedding/ava"], message, G["wedding/fay"]),
        )
        # she may not call the functions that reveal links, yet her insert linked and audited
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            host.execute("select * from public.link_user_by_phone(%s, '+15550000101')", (E["wedding"],))
        # and she reads the attempts of her event through the app's host policy
        seen = dict(
            host.execute(
                "select record_id::text, reason from public.user_link_audit where event_id = %s and created_at >= %s",
                (E["wedding"], since),
            ).fetchall()
        )
    linked, waiting = (
        conn.execute(
            "select id from public.message_deliveries where message_id = %s and guest_id = %s", (message, G[guest])
        ).fetchone()[0]
        for guest in ("wedding/ava", "wedding/fay")
    )
    assert (delivery_user(conn, linked), delivery_user(conn, waiting)) == (U["ava"], None)
    assert seen == {str(linked): "guest_record", str(waiting): "guest_not_linked"}


def test_the_apps_server_writing_as_service_role_links_and_audits(adopted_db, conn):
    message = new_message(conn)
    with as_service_role(adopted_db) as server_conn:
        delivery = upsert(server_conn, message, "wedding/ben", "+15550000102")
    assert delivery_user(conn, delivery) == U["ben"]
    assert new_audit(conn, delivery) == [("linked", "guest_record", U["ben"])]


def test_a_guest_sees_their_delivery_through_the_apps_policy_once_linked(adopted_db, conn):
    fay = str(uuid.uuid4())
    delivery = upsert(conn, new_message(conn), "wedding/fay", "+15550000106")

    def visible_to(user_id):
        with uf.as_authenticated(adopted_db, user_id) as api:
            return {str(row[0]) for row in api.execute("select id from public.message_deliveries")}

    assert delivery not in visible_to(fay)
    assert delivery in visible_to(U["ava"])  # the app shows a delivery without a user to the event's guests
    # Fay signs up with the phone she was invited with: the app's trigger links her guest rows
    conn.execute("insert into public.users (id, phone, full_name) values (%s, '+15550000106', 'Fay')", (fay,))
    sweep(conn)
    assert delivery_user(conn, delivery) == fay
    assert delivery in visible_to(fay)
    assert delivery not in visible_to(U["ava"])


API_ROLES = ("anon", "authenticated", "service_role")
GUARDED_CALLS = (
    "select * from public.link_user_by_phone(gen_random_uuid(), '+15550000101')",
    "select public.backfill_guest_deliveries(gen_random_uuid(), gen_random_uuid())",
    "select * from public.backfill_user_links('message_deliveries', 10, true)",
    "select * from public.rollback_user_links(now(), 'message_deliveries', true)",
    "select public.purge_user_link_audit(0)",
    "select public.run_user_link_audit_purge(0)",
    "delete from delivery_linkage.link_attempts",
    "truncate delivery_linkage.link_attempts",
    "select * from delivery_linkage.audit_write_failures",
    "update public.feature_flags set enabled = false",
)


def test_api_roles_cannot_change_or_reveal_links(adopted_db):
    with psycopg.connect(uf.as_api_login(adopted_db).conninfo(), autocommit=True) as api:
        for role in API_ROLES:
            api.execute(f"set role {role}")
            for statement in GUARDED_CALLS:
                with pytest.raises(psycopg.errors.InsufficientPrivilege), api.transaction():
                    api.execute(statement)
            assert api.execute("select public.normalize_phone('555 000 0101')").fetchone() == ("+15550000101",)
            assert api.execute("select public.get_feature_flag('LINK_USER_BY_PHONE')").fetchone() == (True,)
            api.execute("reset role")


# ---------------------------------------------------------------------------------------------------
# the runbook's manual backfill explains itself


def manual_backfill(conn, guest_id, user_id):
    with notices(conn) as received:
        linked = conn.execute("select public.backfill_guest_deliveries(%s, %s)", (guest_id, user_id)).fetchone()[0]
    return linked, received


def test_the_manual_backfill_says_why_it_links_nothing(conn):
    nobody = str(uuid.uuid4())
    cases = {
        "no such guest": (nobody, U["ava"], f"no guest {nobody}"),
        "removed": (G["wedding/cleo"], U["cleo"], "was removed"),
        "not linked": (G["wedding/fay"], U["ava"], "is not linked to a user"),
        "linked to another user": (G["wedding/ava"], U["ben"], f"is linked to user {U['ava']}, not {U['ben']}"),
    }
    for case, (guest_id, user_id, why) in cases.items():
        linked, received = manual_backfill(conn, guest_id, user_id)
        assert linked == 0, case
        assert len(received) == 1 and why in received[0], (case, received)
    linked, received = manual_backfill(conn, G["birthday/ben"], U["ben"])
    assert linked == 1 and received == [
        f"delivery_linkage: linked 1 deliveries of guest {G['birthday/ben']} to user {U['ben']}"
    ]
    linked, received = manual_backfill(conn, G["birthday/ben"], U["ben"])
    assert linked == 0 and "nothing to link" in received[0]
