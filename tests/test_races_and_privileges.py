"""What app roles can and cannot do. (The race between a delivery insert and a guest link is
test_delivery_and_guest_link_race.py: both orders, every isolation level.)"""

from __future__ import annotations

import psycopg
import pytest

from delivery_linkage_devtools.testing import world as w

PHONE = "+15555550100"


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
    w.sweep(db)
    assert visible(person) == {mine}
    assert visible(stranger) == {theirs}


@pytest.mark.dbt
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
