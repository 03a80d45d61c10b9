"""Privileges under hosted-platform default grants (everything new in public granted to anon,
authenticated and service_role): app writes made as those roles still link and audit, and no API
role can run any function of the linkage that changes or reveals links, nor touch its tables.

Extends tests/test_races_and_privileges.py (single-row insert as authenticated, the named
private functions, RLS visibility, rights surviving a redeploy).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import reliability_support as rs

from delivery_linkage_devtools.testing import invariants
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.reliability
API_ROLES = ("anon", "authenticated", "service_role")
PRIVATE = "delivery_linkage"  # var linkage_private_schema
PUBLIC_FUNCTIONS = {"normalize_phone", "get_feature_flag"}
# functions left executable that read the audit with the caller's own rights (SECURITY INVOKER)
INVOKER_READERS = {"user_link_audit_of"}


def as_role(db, role, user_id=None):
    db.execute(f"set role {role}")
    db.execute("select set_config('app.user_id', %s, false)", (str(user_id) if user_id else "",))


def visible_deliveries(db, user_id):
    as_role(db, "authenticated", user_id)
    rows = {r[0] for r in db.execute("select id from message_deliveries").fetchall()}
    db.execute("reset role")
    return rows


def test_multi_row_insert_as_authenticated_links_and_audits_every_row(db):
    event = w.event(db)
    message = w.message(db, event)
    people = [w.user(db) for _ in range(3)]
    guests = [w.guest(db, event, person, f"+1555555010{i}") for i, person in enumerate(people)]
    pending = w.guest(db, event, None, "+15555550109")
    ids = [uuid.uuid4() for _ in range(4)]
    as_role(db, "authenticated", people[0])
    # no RETURNING: the app's RLS lets a guest read only their own deliveries
    db.execute(
        "insert into message_deliveries (id, message_id, guest_id, phone_number) "
        "select i, %s, g, null from unnest(%s::uuid[], %s::uuid[]) as t(i, g)",
        (message, ids, guests + [pending]),
    )
    db.execute("reset role")
    assert [w.delivery_user(db, d) for d in ids] == people + [None]
    for delivery in ids:
        assert len(w.audit_rows(db, record_id=delivery)) == 1
    assert invariants.audit_disagreements(db) == []
    assert visible_deliveries(db, people[0]) == {ids[0]}
    rs.add("privileges.checks", len(ids))


def test_guest_link_as_service_role_backfills_and_audits_and_each_guest_sees_only_their_own(db):
    event = w.event(db)
    messages = [w.message(db, event) for _ in range(2)]
    guests = [w.guest(db, event, None, f"+1555555020{i}") for i in range(5)]
    for message in messages:
        for guest in guests:
            w.deliver(db, message, guest, None)
    people = [w.user(db) for _ in guests]
    as_role(db, "service_role")
    db.execute(
        "update event_guests g set user_id = t.u from unnest(%s::uuid[], %s::uuid[]) as t(g, u) where g.id = t.g",
        (guests, people),
    )
    db.execute("reset role")
    assert w.sweep(db) == 0  # the sweeper (its owner's job) backfills the linked guests' deliveries
    as_role(db, "service_role")
    db.execute("update event_guests set removed_at = now() where id = %s", (guests[0],))
    db.execute("reset role")
    assert w.linkable_null_count(db) == 0
    backfilled = w.audit_rows(db, table_name="message_deliveries_backfill")
    assert len(backfilled) == len(guests) * len(messages)
    assert {r["reason"] for r in backfilled} == {"guest_linked"}
    assert invariants.audit_disagreements(db) == []
    for guest, person in zip(guests, people, strict=True):
        mine = {r[0] for r in db.execute("select id from message_deliveries where guest_id = %s", (guest,)).fetchall()}
        assert visible_deliveries(db, person) == mine
    rs.add("privileges.checks", len(guests) * len(messages))


def test_multi_row_insert_as_service_role_links_and_audits(db):
    event = w.event(db)
    message = w.message(db, event)
    people = [w.user(db) for _ in range(4)]
    guests = [w.guest(db, event, person, None) for person in people]
    as_role(db, "service_role")
    ids = [
        r[0]
        for r in db.execute(
            "insert into message_deliveries (message_id, guest_id) "
            "select %s, g from unnest(%s::uuid[]) as g returning id",
            (message, guests),
        ).fetchall()
    ]
    db.execute("reset role")
    assert [w.delivery_user(db, d) for d in ids] == people
    assert invariants.audit_disagreements(db) == []
    rs.add("privileges.checks", len(ids))


@pytest.mark.parametrize("role", API_ROLES)
def test_no_api_role_can_execute_any_linkage_function_that_changes_or_reveals_links(db, role):
    """Every function the deploy created (found by its comment, in the app schema and the private one),
    not only the ones named in the tests: a new function without its REVOKE fails here."""
    functions = db.execute(
        "select p.oid::regprocedure::text, p.proname, p.prosecdef from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname in ('public', %s) and obj_description(p.oid, 'pg_proc') like 'delivery_linkage%%'",
        (PRIVATE,),
    ).fetchall()
    assert {"link_user_by_phone", "sweep_guest_link_queue", "backfill_deliveries_batch"} <= {f[1] for f in functions}
    executable = {
        (signature, name, definer)
        for signature, name, definer in functions
        if db.execute("select has_function_privilege(%s, %s, 'execute')", (role, signature)).fetchone()[0]
    }
    assert {name for _, name, _ in executable} <= PUBLIC_FUNCTIONS | INVOKER_READERS, executable
    for _, name, definer in executable:
        if name in INVOKER_READERS:
            # runs with the caller's rights, and the role has none on what it reads
            assert not definer, name
            db.execute(f"set role {role}")
            try:
                with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                    db.execute(f"select * from {name}(gen_random_uuid())")
            finally:
                db.execute("reset role")

    # the audit, the linkage's tables and its sequences (the race guard's clocks among them)
    relations = db.execute(
        "select c.oid::regclass::text, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where (n.nspname = %s and c.relkind in ('r', 'v', 'S', 'p')) "
        "or c.oid in ('public.user_link_audit'::regclass)",
        (PRIVATE,),
    ).fetchall()
    assert {"delivery_linkage.link_attempts", "delivery_linkage.guest_link_queue", "user_link_audit"} <= {
        r[0] for r in relations
    }
    for relation, kind in relations:
        if kind == "S":
            for privilege in ("usage", "select", "update"):
                granted = db.execute("select has_sequence_privilege(%s, %s, %s)", (role, relation, privilege))
                assert not granted.fetchone()[0], (relation, privilege)
            continue
        for privilege in ("select", "insert", "update", "delete", "truncate"):
            granted = db.execute("select has_table_privilege(%s, %s, %s)", (role, relation, privilege))
            assert not granted.fetchone()[0], (relation, privilege)
    for privilege in ("insert", "update", "delete", "truncate"):
        assert not db.execute("select has_table_privilege(%s, 'feature_flags', %s)", (role, privilege)).fetchone()[0]
