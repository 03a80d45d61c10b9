"""Races between a delivery insert and a guest link, and what app roles can and cannot do."""

from __future__ import annotations

import psycopg
import pytest

import world as w

PHONE = "+15555550100"


def connect(settings):
    return psycopg.connect(settings.conninfo(), autocommit=True)


def setup_unlinked_guest(db):
    event = w.event(db)
    guest = w.guest(db, event, None, PHONE)
    return event, guest, w.message(db, event), w.user(db, PHONE)


@pytest.mark.parametrize("link_commits_first", [True, False], ids=["link-commits-first", "send-commits-first"])
def test_delivery_inserted_while_guest_link_is_uncommitted_ends_up_linked(app_db, db, link_commits_first):
    """Guest link first (uncommitted), then the insert: neither waits; whichever commits first, the
    delivery ends up with the guest's user (the commit checks meet on their partition's lock)."""
    event, guest, message, person = setup_unlinked_guest(db)
    with connect(app_db) as linker, connect(app_db) as sender:
        linker.execute("begin")
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        sender.execute("begin")
        sender.execute("set local lock_timeout = '2s'")  # a wait would fail the insert
        delivery = w.deliver(sender, message, guest, PHONE)
        assert w.delivery_user(sender, delivery) is None  # the link is not visible yet
        first, second = (linker, sender) if link_commits_first else (sender, linker)
        first.execute("commit")
        second.execute("commit")
    assert w.delivery_user(db, delivery) == person
    assert w.linkable_null_count(db) == 0


@pytest.mark.parametrize("link_commits_first", [True, False], ids=["link-commits-first", "send-commits-first"])
def test_guest_linked_while_delivery_insert_is_uncommitted_ends_up_linked(app_db, db, link_commits_first):
    """Insert first (uncommitted), then the guest link: neither waits; whichever commits first, the
    delivery ends up with the guest's user."""
    event, guest, message, person = setup_unlinked_guest(db)
    with connect(app_db) as linker, connect(app_db) as sender:
        sender.execute("begin")
        delivery = w.deliver(sender, message, guest, PHONE)
        linker.execute("begin")
        linker.execute("set local lock_timeout = '2s'")  # a wait would fail the guest update
        linker.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        first, second = (linker, sender) if link_commits_first else (sender, linker)
        first.execute("commit")
        second.execute("commit")
    assert w.delivery_user(db, delivery) == person
    assert w.linkable_null_count(db) == 0


def as_role(db, role, user_id=None):
    db.execute(f"set role {role}")
    if user_id:
        db.execute("select set_config('app.user_id', %s, false)", (str(user_id),))


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_app_roles_cannot_execute_functions_that_change_or_reveal_links(db, role):
    private = [
        "select link_user_by_phone(gen_random_uuid(), '+15555550100')",
        "select backfill_guest_deliveries(gen_random_uuid(), gen_random_uuid())",
        "select delivery_linkage.backfill_deliveries_batch(null, 10, true)",
        "select delivery_linkage.rollback_links_since(now(), true)",
        "select delivery_linkage.set_linkage_triggers_enabled(false)",
        "select * from delivery_linkage.decide_delivery_links('{}', '{}', '{}', '{}', '{}')",
        "select delivery_linkage.purge_link_audit(0)",
        "select * from delivery_linkage.link_attempts",
        "select * from user_link_audit",
        "update feature_flags set enabled = false",
    ]
    for statement in private:
        as_role(db, role)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(statement)
        db.execute("reset role")
    # the audit is a view over the linkage's own table: nobody writes it directly, app roles least of all
    as_role(db, role)
    with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState)):
        db.execute("insert into user_link_audit (table_name, outcome) values ('x', 'linked')")
    db.execute("reset role")
    as_role(db, role)
    assert db.execute("select normalize_phone('555 555 0100')").fetchone()[0] == PHONE


def test_insert_by_an_app_role_links_and_audits(db):
    event = w.event(db)
    person = w.user(db, PHONE)
    guest = w.guest(db, event, person, PHONE)
    message = w.message(db, event)
    as_role(db, "authenticated", person)
    delivery = w.deliver(db, message, guest, PHONE)
    db.execute("reset role")
    assert w.delivery_user(db, delivery) == person
    assert len(w.audit_rows(db, record_id=delivery)) == 1


def test_guest_sees_their_delivery_once_linked_and_never_anyone_elses(db):
    event = w.event(db)
    person, stranger = w.user(db, PHONE), w.user(db, "+15555550999")
    guest = w.guest(db, event, None, PHONE)
    other_guest = w.guest(db, event, stranger, "+15555550999")
    message = w.message(db, event)
    mine = w.deliver(db, message, guest, PHONE)
    theirs = w.deliver(db, message, other_guest, "+15555550999")

    def visible(user_id):
        as_role(db, "authenticated", user_id)
        rows = {r[0] for r in db.execute("select id from message_deliveries").fetchall()}
        db.execute("reset role")
        return rows

    assert visible(person) == set()
    db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    assert visible(person) == {mine}
    assert visible(stranger) == {theirs}


def test_revoked_rights_survive_a_redeploy(app_db, db):
    from delivery_linkage.database import dbt_runner

    # an operator takes get_feature_flag away from the API roles; then a changed deploy runs
    db.execute(
        "revoke execute on function get_feature_flag(text) from public, anon, authenticated, service_role"
    )
    db.execute("update delivery_linkage.linkage_deployments set version_hash = 'older'")
    dbt_runner.run_dbt(["run-operation", "deploy"], app_db, target_path="target/pytest_redeploy").check()
    assert db.execute("select count(*) from delivery_linkage.linkage_deployments").fetchone()[0] == 2

    def can_execute(role, function):
        return db.execute("select has_function_privilege(%s, %s, 'execute')", (role, function)).fetchone()[0]

    for role in ("anon", "authenticated", "service_role"):
        assert not can_execute(role, "get_feature_flag(text)")
        assert not can_execute(role, "link_user_by_phone(uuid, text)")
        assert not can_execute(role, "backfill_guest_deliveries(uuid, uuid)")
    assert can_execute("anon", "normalize_phone(text)")
