"""The synthetic data generator: shape, the linkable-but-NULL history, the runbook world, triggers.

Self-contained: each database is a fresh app fixture named `test_synthetic_<random>`, dropped after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from delivery_linkage.database import connection
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.synthetic import WorldShape, generate, runbook_world

SHAPE = WorldShape(deliveries=5_000, guests_per_event=(50, 300), messages_per_event=(2, 6), seed=7)

LINKABLE_NULL = """
    select count(*) from message_deliveries d
    join event_guests g on g.id = d.guest_id
    where d.user_id is null and g.user_id is not null and g.removed_at is null
"""

TRIGGER_STATES = """
    select c.relname::text, t.tgname::text, t.tgenabled::text
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where c.relname in ('message_deliveries', 'event_guests') and not t.tgisinternal
    order by 1, 2
"""


@pytest.fixture(scope="module")
def server() -> connection.ConnectionSettings:
    return connection.resolve("postgres")


@pytest.fixture
def fresh_db(server) -> Iterator[psycopg.Connection]:
    name = f"test_synthetic_{uuid.uuid4().hex[:12]}"
    app_fixture.create_app_database(server, name)
    try:
        with psycopg.connect(server.with_database(name).conninfo(), autocommit=True) as conn:
            yield conn
    finally:
        app_fixture.drop_database(server, name)


@pytest.fixture(scope="module")
def world(server) -> Iterator[tuple[psycopg.Connection, dict[str, int], list]]:
    name = f"test_synthetic_{uuid.uuid4().hex[:12]}"
    app_fixture.create_app_database(server, name)
    try:
        with psycopg.connect(server.with_database(name).conninfo(), autocommit=True) as conn:
            reports: list = []
            counts = generate(conn, SHAPE, progress=lambda *report: reports.append(report))
            yield conn, counts, reports
    finally:
        app_fixture.drop_database(server, name)


def scalar(conn: psycopg.Connection, query: str):
    return conn.execute(query).fetchone()[0]


def test_counts_match_the_shape_and_the_tables(world):
    conn, counts, reports = world
    assert abs(counts["message_deliveries"] - SHAPE.deliveries) <= 0.02 * SHAPE.deliveries
    for table in ("users", "events", "messages", "event_guests", "message_deliveries"):
        assert scalar(conn, f"select count(*) from {table}") == counts[table], table
    assert reports[-1] == ("analyze", 1, 1)
    assert ("deliveries", counts["message_deliveries"], counts["message_deliveries"]) in reports


def test_linkable_null_deliveries_are_reported_exactly(world):
    conn, counts, _ = world
    assert counts["linkable_null"] > 0
    assert scalar(conn, LINKABLE_NULL) == counts["linkable_null"]


def test_history_is_consistent_apart_from_the_defect(world):
    conn, _, _ = world
    # no delivery names a user other than its guest's; unlinked guests' deliveries are NULL
    assert scalar(conn, """
        select count(*) from message_deliveries d join event_guests g on g.id = d.guest_id
        where d.user_id is distinct from g.user_id and d.user_id is not null""") == 0
    assert scalar(conn, "select count(*) from message_deliveries where guest_id is null") == 0
    linked, guests = conn.execute("select count(user_id), count(*) from event_guests").fetchone()
    assert 0.6 < linked / guests < 0.8
    assert scalar(conn, "select count(*) from event_guests where removed_at is not null") > 0


def test_events_have_guests_and_messages_in_range(world):
    conn, _, _ = world
    low, high = conn.execute(
        "select min(n), max(n) from (select count(*) as n from event_guests group by event_id) x"
    ).fetchone()
    assert SHAPE.guests_per_event[0] <= low <= high <= SHAPE.guests_per_event[1]
    low, high = conn.execute(
        "select min(n), max(n) from (select count(*) as n from messages group by event_id) x"
    ).fetchone()
    assert SHAPE.messages_per_event[0] <= low <= high <= SHAPE.messages_per_event[1]
    # every announcement reaches every guest of its event
    assert scalar(conn, """
        select count(*) from messages m join event_guests g on g.event_id = m.event_id
        where not exists (select 1 from message_deliveries d where d.message_id = m.id and d.guest_id = g.id)
    """) == 0


def test_phones_come_in_varied_formats(world):
    conn, _, _ = world
    phones = [row[0] for row in conn.execute("select phone from event_guests").fetchall()]
    assert any(p and p.startswith("+1") for p in phones)
    assert any(p and p.startswith("(") for p in phones)
    assert any(p and "." in p for p in phones)
    assert any(p and p.startswith("1-") for p in phones)
    assert any(p is None or p == "" for p in phones)


def test_same_seed_gives_the_same_world(world, fresh_db):
    conn, counts, _ = world
    assert generate(fresh_db, SHAPE) == counts
    digest = "select md5(string_agg(id::text || coalesce(phone, '-'), ',' order by id)) from event_guests"
    assert scalar(fresh_db, digest) == scalar(conn, digest)


def test_runbook_world_has_exactly_the_runbooks_defect(fresh_db):
    defective = runbook_world(fresh_db, total=71, linkable_null=3)
    assert len(defective) == 3
    assert scalar(fresh_db, "select count(*) from message_deliveries") == 71
    assert scalar(fresh_db, LINKABLE_NULL) == 3
    found = fresh_db.execute(
        """select d.id from message_deliveries d join event_guests g on g.id = d.guest_id
           where d.user_id is null and g.user_id is not null and g.removed_at is null"""
    ).fetchall()
    assert sorted(row[0] for row in found) == sorted(defective)
    assert scalar(fresh_db, "select count(*) from event_guests where removed_at is not null") == 0
    # no two active guests of the event share a phone, no unlinked guest's phone is a user's
    assert scalar(fresh_db, "select count(*) - count(distinct phone) from event_guests") == 0
    assert scalar(fresh_db, """
        select count(*) from event_guests g join users u on u.phone = g.phone where g.user_id is null""") == 0


def test_trigger_states_are_restored_and_triggers_do_not_fire(fresh_db):
    fresh_db.execute("""
        create function public.synthetic_test_boom() returns trigger language plpgsql as $$
        begin raise exception 'trigger fired on %', tg_table_name; end $$;
        create trigger boom_enabled before insert on public.message_deliveries
            for each row execute function public.synthetic_test_boom();
        create trigger boom_disabled before insert on public.message_deliveries
            for each row execute function public.synthetic_test_boom();
        alter table public.message_deliveries disable trigger boom_disabled;
        create trigger boom_always before insert on public.event_guests
            for each row execute function public.synthetic_test_boom();
        alter table public.event_guests enable always trigger boom_always;
        create trigger boom_replica before insert on public.event_guests
            for each row execute function public.synthetic_test_boom();
        alter table public.event_guests enable replica trigger boom_replica;
    """)
    before = fresh_db.execute(TRIGGER_STATES).fetchall()
    assert {state for _, _, state in before} == {"O", "D", "A", "R"}
    generate(fresh_db, WorldShape(deliveries=500, guests_per_event=(50, 100), seed=3))
    runbook_world(fresh_db, total=10, linkable_null=2)
    assert fresh_db.execute(TRIGGER_STATES).fetchall() == before
    with pytest.raises(psycopg.errors.RaiseException):
        fresh_db.execute("insert into message_deliveries (phone_number) values ('+15551234567')")


def test_a_failure_leaves_nothing_behind(fresh_db):
    before = fresh_db.execute(TRIGGER_STATES).fetchall()
    fresh_db.execute("alter table event_guests add constraint no_removed check (removed_at is null)")
    with pytest.raises(psycopg.errors.CheckViolation):
        generate(fresh_db, WorldShape(deliveries=20_000, removed_share=0.5))
    assert fresh_db.execute(TRIGGER_STATES).fetchall() == before
    assert scalar(fresh_db, "select count(*) from users") == 0
