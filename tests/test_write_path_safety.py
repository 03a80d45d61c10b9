"""The write path's safety, one behaviour per test: what the review of the previous write path (0.1)
found it could not keep, and the lean write path does.

Each test would fail on that version (commit checks at COMMIT, advisory locks, transaction-local
settings, a subtransaction per audited statement): a delivery left NULL forever behind a locked user
row, a deadlock or a wait at a guest link's COMMIT, a check switched off by SET CONSTRAINTS, a
subtransaction cache overflowed by a long transaction of sends, a link across events, locks and
settings any API role could take or forge, an unbounded phone read whole.
"""

from __future__ import annotations

import random

import psycopg
import pytest

from app_sessions import begin, session, start, wait_until_blocked_or_done
from delivery_linkage_devtools.testing import world as w

PHONE = "+15555550100"


def linked_guest_with_message(db, phone=PHONE):
    event = w.event(db)
    person = w.user(db, phone)
    guest = w.guest(db, event, person, phone)
    return event, person, guest, w.message(db, event)


def unlinked_guest_with_message(db):
    """A guest not linked yet, the user it is about to be linked to, and a message of its event."""
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, None, PHONE)
    return event, person, guest, w.message(db, event)


# 1 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hold",
    [
        "select 1 from users where id = %s for update",
        "update users set email = 'changed@example.com' where id = %s",
        "delete from users where id = %s",
    ],
    ids=["select_for_update", "key_update", "delete_rolled_back"],
)
@pytest.mark.parametrize("isolation", ["read committed", "repeatable read", "serializable"])
def test_a_delivery_sent_while_its_users_row_is_locked_never_waits_and_is_linked_once_the_lock_is_gone(
    app_db, db, hold, isolation
):
    """A transaction holds the user's row (FOR UPDATE, a key update, a deletion later rolled back).
    A send to that user's guest neither waits nor fails; its delivery is left NULL with a queue entry;
    once the holder is gone the sweeper links it."""
    if hold.startswith("delete"):  # as the real app has it: a user's deletion clears its guests' links
        db.execute(
            "alter table event_guests drop constraint event_guests_user_id_fkey,"
            " add foreign key (user_id) references users (id) on delete set null"
        )
    _, person, guest, message = linked_guest_with_message(db)
    w.sweep(db)  # the guest's own entry (it was inserted linked)
    with session(app_db) as holder, session(app_db, lock_timeout="2s") as sender:
        holder.execute("begin")
        holder.execute(hold, (person,))
        begin(sender, isolation)
        delivery = w.deliver(sender, message, guest, PHONE)
        sender.execute("commit")
        assert w.delivery_user(db, delivery) is None
        assert w.unexplained_linkable_null_count(db) == 0
        holder.execute("rollback")
    w.sweep(db)
    assert w.delivery_user(db, delivery) == person
    reasons = [(r["table_name"], r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=delivery)]
    assert reasons == [
        ("message_deliveries", "skipped", "deferred"),
        ("message_deliveries_backfill", "linked", "sweeper"),
    ]


# 2 and 4 ----------------------------------------------------------------------------------------


def test_a_guest_link_never_waits_on_a_delivery_an_app_transaction_holds_so_no_deadlock_can_form(app_db, db):
    """L links guest g; S has just sent x to g; U holds x (a status update) and then sends to another,
    unlinked guest of the same event. L's backfill skips x instead of waiting on it, so L commits at
    once, U commits, nobody waits or deadlocks; the sweeper links x after U is done."""
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, None, PHONE)
    other = w.guest(db, event, None, "+15555550101")
    message = w.message(db, event)
    with session(app_db) as linker, session(app_db) as updater, session(app_db, lock_timeout="300ms") as probe:
        linker.execute("begin")
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        x = w.deliver(db, message, guest, PHONE)
        updater.execute("begin")
        updater.execute("update message_deliveries set sms_status = 'resent' where id = %s", (x,))
        w.deliver(updater, message, other, "+15555550101")
        committing = start(linker.execute, "commit")
        assert not wait_until_blocked_or_done(db, linker.info.backend_pid, committing), "the guest link waited"
        committing.result()
        # a send to another event (the old partition of the same events) goes through at once
        elsewhere_event = w.event(db)
        elsewhere = w.guest(db, elsewhere_event, None, "+15555550102")
        w.deliver(probe, w.message(db, elsewhere_event), elsewhere, "+15555550102")
        updater.execute("commit")
    assert w.delivery_user(db, x) is None
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    assert w.delivery_user(db, x) == person


def test_a_guest_link_holding_a_delivery_row_never_delays_sends_to_other_guests(app_db, db):
    """A guest link that cannot backfill one delivery (an app transaction holds it) holds nothing that
    a send needs: sends to the same and to other events go through while both transactions are open."""
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, None, PHONE)
    neighbour = w.guest(db, event, None, "+15555550101")
    message = w.message(db, event)
    held = w.deliver(db, message, guest, PHONE)
    with session(app_db) as holder, session(app_db) as linker, session(app_db, lock_timeout="200ms") as sender:
        holder.execute("begin")
        holder.execute("update message_deliveries set sms_status = 'sent' where id = %s", (held,))
        linker.execute("begin")
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        sender.execute("begin")
        w.deliver(sender, w.message(db, event), neighbour, "+15555550101")
        w.deliver(sender, w.message(db, event), guest, PHONE)
        sender.execute("commit")
        linker.execute("commit")
        holder.execute("commit")
    w.sweep(db)
    assert w.linkable_null_count(db) == 0


# 3 ------------------------------------------------------------------------------------------------


def test_set_constraints_all_immediate_changes_nothing_the_linkage_does(app_db, db):
    """An app (Django's check_constraints) runs SET CONSTRAINTS ALL IMMEDIATE and back mid-transaction
    while a concurrent guest link commits: the delivery is audited, nothing is left behind, and the
    sweeper links it."""
    _, person, guest, message = unlinked_guest_with_message(db)
    with session(app_db) as sender, session(app_db) as linker:
        sender.execute("begin")
        delivery = w.deliver(sender, message, guest, PHONE)
        sender.execute("set constraints all immediate")
        sender.execute("set constraints all deferred")
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        sender.execute("commit")
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=delivery)] == [
        ("no_match", "guest_not_linked")
    ]
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    assert w.delivery_user(db, delivery) == person


# 5 ------------------------------------------------------------------------------------------------


def test_a_long_transaction_of_sends_opens_no_subtransaction(app_db, db):
    """Seventy single-row sends in one transaction, linked and not: the backend's subtransaction cache
    stays empty (an EXCEPTION block per audited statement would have filled it past its 64 entries and
    slowed every snapshot on the primary and its standbys)."""
    if db.info.server_version < 160000:
        pytest.skip("pg_stat_get_backend_subxact is PostgreSQL 16+")
    event = w.event(db)
    message = w.message(db, event)
    guests = [w.guest(db, event, w.user(db) if i % 2 else None, f"+1555555{i:04d}") for i in range(70)]
    with session(app_db) as sender:
        sender.execute("begin")
        for i, guest in enumerate(guests):
            w.deliver(sender, message, guest, f"+1555555{i:04d}")
        count, overflowed = sender.execute(
            "select s.subxact_count, s.subxact_overflowed from pg_stat_get_backend_subxact("
            " (select b.backendid from pg_stat_get_backend_idset() as b (backendid)"
            "  where pg_stat_get_backend_pid(b.backendid) = pg_backend_pid())) as s"
        ).fetchone()
        sender.execute("commit")
    assert (count, overflowed) == (0, False)
    assert len(w.audit_rows(db, table_name="message_deliveries")) == 70


# 6 ------------------------------------------------------------------------------------------------


def test_a_send_committing_between_a_guest_links_backfill_and_its_commit_is_linked_by_the_sweeper(app_db, db):
    _, person, guest, message = unlinked_guest_with_message(db)
    with session(app_db) as linker, session(app_db) as sender:
        sender.execute("begin")
        delivery = w.deliver(sender, message, guest, PHONE)
        linker.execute("begin")
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        sender.execute("commit")
        linker.execute("commit")
    assert w.delivery_user(db, delivery) is None
    assert w.unexplained_linkable_null_count(db) == 0
    w.sweep(db)
    assert w.delivery_user(db, delivery) == person


def test_a_link_is_audited_after_the_insert_it_links_even_when_the_sweepers_transaction_began_first(app_db, db):
    """A pass runs at READ COMMITTED: it can link a delivery whose insert committed after the pass's
    transaction began. The link's audit row is written after the insert's, and in time order it comes
    last, naming the user the delivery has (its created_at is when it was written, not its
    transaction's start)."""
    _, person, guest, message = unlinked_guest_with_message(db)
    with session(app_db) as sweeper:
        sweeper.execute("begin")
        sweeper.execute("select now()")
        delivery = w.deliver(db, message, guest, PHONE)  # audited no_match: its guest is not linked
        db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        for _ in range(3):
            sweeper.execute("select delivery_linkage.sweep_guest_link_queue()")
        sweeper.execute("commit")
    assert w.delivery_user(db, delivery) == person
    audit = w.audit_rows(db, record_id=delivery)
    assert [(row["outcome"], row["reason"]) for row in audit] == [
        ("no_match", "guest_not_linked"),
        ("linked", "guest_linked"),
    ]
    assert audit[-1]["linked_user_id"] == person


# 7 ------------------------------------------------------------------------------------------------


def test_a_guest_of_another_event_never_gives_its_user_to_a_delivery(db):
    """A delivery of event A's message that names a guest of event B is never linked by that guest's
    record — at insert, by the guest's link, by an update, by the sweeper or the historical backfill:
    no_match, guest_other_event."""
    event_a, event_b = w.event(db), w.event(db)
    person = w.user(db)
    guest_b = w.guest(db, event_b, person, PHONE)
    unlinked_b = w.guest(db, event_b, None, "+15555550101")
    message_a = w.message(db, event_a)
    at_insert = w.deliver(db, message_a, guest_b, PHONE)
    before_link = w.deliver(db, message_a, unlinked_b, "+15555550101")
    db.execute("update event_guests set user_id = %s where id = %s", (w.user(db), unlinked_b))
    moved = w.deliver(db, w.message(db, event_b), None, None)
    db.execute(
        "update message_deliveries set guest_id = %s, message_id = %s where id = %s",
        (guest_b, w.message(db, event_a), moved),
    )
    w.sweep(db)
    db.execute("select * from delivery_linkage.backfill_deliveries_batch(null, 1000, false)").fetchall()
    for delivery in (at_insert, before_link, moved):
        assert w.delivery_user(db, delivery) is None
    assert [r["reason"] for r in w.audit_rows(db, record_id=at_insert)] == ["guest_other_event"]
    assert [r["reason"] for r in w.audit_rows(db, record_id=before_link)] == ["guest_other_event"]
    assert [r["reason"] for r in w.audit_rows(db, record_id=moved)] == ["no_phone", "guest_other_event"]


# 9 ------------------------------------------------------------------------------------------------


def test_the_api_roles_can_hold_no_lock_the_linkage_takes(app_db, db):
    """anon takes every advisory lock key the previous version used (namespace 1819175783, keys -1..15)
    and stays idle: sends, guest links and a changed deploy go through."""
    event, person, guest, message = unlinked_guest_with_message(db)
    with session(app_db) as squatter, session(app_db, lock_timeout="300ms", statement_timeout="2s") as app:
        squatter.execute("set role anon")
        squatter.execute("select pg_advisory_lock(1819175783, p) from generate_series(-1, 15) as p").fetchall()
        delivery = w.deliver(app, message, guest, PHONE)
        app.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        app.execute("begin")
        w.deliver(app, w.message(db, event), guest, PHONE)
        app.execute("commit")
        assert app.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0] == 0
    assert w.delivery_user(db, delivery) == person


# 10 -----------------------------------------------------------------------------------------------


FORGED_SETTINGS = {
    "delivery_linkage.linking_off": "on",
    "delivery_linkage.writing": "on",
    "delivery_linkage.flags": "0|true|true",
    "delivery_linkage.note_ctids": "(0,1) ",
    "delivery_linkage.pending_partitions": "x",
    "delivery_linkage.commit_check_ctids": "(0,1) ",
}


def test_no_setting_a_session_can_change_alters_what_the_linkage_does(app_db, db):
    """An API session (service_role) sets every transaction- and session-level setting the previous version
    trusted: its sends are linked and audited as any other, the kill switch still holds, and a later
    send on the same connection (a pooler's next client) goes through."""
    event = w.event(db)
    person = w.user(db)
    guest = w.guest(db, event, person, PHONE)
    unlinked = w.guest(db, event, None, "+15555550101")
    message = w.message(db, event)
    with session(app_db) as app:
        app.execute("set role service_role")
        for name, value in FORGED_SETTINGS.items():
            app.execute("select set_config(%s, %s, false)", (name, value))
        app.execute("begin")
        for name, value in FORGED_SETTINGS.items():
            app.execute("select set_config(%s, %s, true)", (name, value))
        linked = w.deliver(app, message, guest, PHONE)
        waiting = w.deliver(app, message, unlinked, "+15555550101")
        app.execute("commit")
        w.set_flag(db, "LINK_USER_BY_PHONE", False)
        switched_off = w.deliver(app, w.message(db, event), guest, PHONE)
        w.set_flag(db, "LINK_USER_BY_PHONE", True)
        later = w.deliver(app, w.message(db, event), guest, PHONE)
    assert w.delivery_user(db, linked) == person and w.delivery_user(db, later) == person
    assert w.delivery_user(db, switched_off) is None
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=linked)] == [("linked", "guest_record")]
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=waiting)] == [
        ("no_match", "guest_not_linked")
    ]
    assert [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=switched_off)] == [
        ("skipped", "feature_disabled")
    ]


def test_no_function_of_the_linkage_reads_a_setting_of_its_own(db):
    """The functions the deploy created read no delivery_linkage.* setting: nothing a session sets can
    steer them (they may read the server's own settings, e.g. transaction_isolation)."""
    readers = db.execute(
        "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'delivery_linkage') and p.prosrc ~ 'delivery_linkage\\.[a-z_]+'''"
        " and p.prosrc ~ 'current_setting|set_config'"
    ).fetchall()
    assert readers == []


# 11 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relation", ["public.feature_flags", "public.user_link_audit"])
def test_the_api_roles_cannot_put_a_trigger_on_the_switches_or_the_audit(app_db, db, relation):
    for role in ("anon", "authenticated", "service_role"):
        assert not db.execute("select has_table_privilege(%s, %s, 'TRIGGER')", (role, relation)).fetchone()[0], role
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
            assert not db.execute("select has_table_privilege(%s, %s, %s)", (role, relation, privilege)).fetchone()[
                0
            ], (role, privilege)
    db.execute("create function public.swallow() returns trigger language plpgsql as $$ begin return null; end $$")
    with session(app_db) as api:
        api.execute("set role anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.execute(
                f"create trigger swallow instead of update on {relation} for each row execute function public.swallow()"
            )


# 12 -----------------------------------------------------------------------------------------------


def test_an_unbounded_phone_is_never_read_whole_by_a_send_or_an_audit_read(db):
    """A 2 MB phone (the column has no length limit), stored out of line: reading that delivery's audit
    touches no more pages than reading the audit of a delivery with a short phone (the phone's TOAST
    pages are never read), and the phone counts as no phone number."""
    event = w.event(db)
    guest = w.guest(db, event, None, None)
    huge = "".join(random.Random(7).choices("0123456789", k=2_000_000))  # incompressible: stored out of line
    short = w.deliver(db, w.message(db, event), guest, PHONE)
    long = w.deliver(db, w.message(db, event), guest, huge)

    def pages(delivery):
        plan = db.execute(
            "explain (analyze, buffers, format json) select * from user_link_audit_of(%s)", (delivery,)
        ).fetchone()[0][0]
        return plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]

    pages(short), pages(long)  # the session's catalog caches, warmed
    assert pages(long) - pages(short) < 20, "the audit read detoasted the phone"
    assert db.execute(
        "select pg_column_size(phone_number) > 1000000 from message_deliveries where id = %s", (long,)
    ).fetchone()[0]
    assert db.execute(
        "select normalize_phone(phone_number) from message_deliveries where id = %s", (long,)
    ).fetchone() == (None,)
