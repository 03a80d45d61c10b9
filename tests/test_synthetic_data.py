"""The synthetic data generator: shape, the linkable-but-NULL history, the runbook world, triggers.

Each database is a fresh app fixture without the linkage (delivery_linkage_devtools.testing.databases),
dropped after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from delivery_linkage.database import connection
from delivery_linkage_devtools import app_fixture, world_template
from delivery_linkage_devtools.synthetic import WorldShape, generate
from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing.databases import app_database, connection_fixture
from delivery_linkage_devtools.testing.invariants import linkable_null, linkable_null_count

SHAPE = WorldShape(deliveries=5_000, guests_per_event=(50, 300), messages_per_event=(2, 6), seed=7)

TRIGGER_STATES = """
    select c.relname::text, t.tgname::text, t.tgenabled::text
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where c.relname in ('message_deliveries', 'event_guests') and not t.tgisinternal
    order by 1, 2
"""


@pytest.fixture(scope="module")
def server() -> connection.ConnectionSettings:
    return connection.resolve("postgres")


fresh_db = connection_fixture("bare_app_db", "A connection to a fresh app fixture, without the linkage.")


@pytest.fixture(scope="module")
def world(server) -> Iterator[tuple[psycopg.Connection, dict[str, int], list]]:
    with app_database(server) as settings, psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        reports: list = []
        counts = generate(conn, SHAPE, progress=lambda *report: reports.append(report))
        yield conn, counts, reports


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
    assert linkable_null_count(conn) == counts["linkable_null"]


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
    defective = runbook_world.build(fresh_db, total=71, defects=3)
    assert len(defective) == 3
    assert scalar(fresh_db, "select count(*) from message_deliveries") == 71
    assert linkable_null_count(fresh_db) == 3
    assert linkable_null(fresh_db) == {str(delivery) for delivery in defective}
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
    runbook_world.build(fresh_db, total=10, defects=2)
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


# --- the template database: the same world, built for 100M deliveries -----------------------------

STRUCTURE = """
    select 'index', c.relname::text, pg_get_indexdef(i.indexrelid) from pg_index i
    join pg_class c on c.oid = i.indrelid where c.relnamespace = 'public'::regnamespace
    union all
    select 'constraint', conrelid::regclass::text, conname || ' ' || convalidated || ' ' || pg_get_constraintdef(oid)
    from pg_constraint where connamespace = 'public'::regnamespace
    union all
    select 'options', relname::text, coalesce(reloptions::text, '') from pg_class
    where relnamespace = 'public'::regnamespace and relkind = 'r'
    order by 1, 2, 3
"""
WORLD_DIGEST = """
    select (select md5(string_agg(id::text || coalesce(user_id::text, '-') || coalesce(phone, '-')
                                  || coalesce(removed_at::text, '-'), ',' order by id)) from event_guests),
           (select md5(string_agg(id::text || message_id || guest_id || coalesce(user_id::text, '-')
                                  || sms_status || created_at, ',' order by id)) from message_deliveries),
           (select md5(string_agg(id::text || coalesce(phone, '-'), ',' order by id)) from users)
"""


@pytest.fixture
def template_name(server) -> Iterator[str]:
    name = f"test_template_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        app_fixture.drop_database(server, name)


def test_a_template_holds_the_world_generate_writes_with_the_apps_indexes_and_constraints(
    world, fresh_db, server, template_name
):
    conn, counts, _ = world
    result = world_template.build(server, template_name, SHAPE, chunk_deliveries=1000)
    assert not result.reused and result.counts == counts
    assert result.deliveries_written == counts["message_deliveries"] and result.rows_per_second > 0
    with psycopg.connect(server.with_database(template_name).conninfo(), autocommit=True) as built:
        assert built.execute(WORLD_DIGEST).fetchone() == conn.execute(WORLD_DIGEST).fetchone()
        # the app's indexes and constraints (validated), rebuilt as the fixture has them; no bookkeeping left
        assert built.execute(STRUCTURE).fetchall() == fresh_db.execute(STRUCTURE).fetchall()
        assert scalar(built, f"select to_regnamespace('{world_template.STATE_SCHEMA}')") is None
        # vacuumed: the visibility map set, as on an old production table (index-only scans)
        visible, pages = built.execute(
            "select relallvisible, relpages from pg_class where relname = 'message_deliveries'"
        ).fetchone()
        assert pages > 0 and visible == pages
    again = world_template.build(server, template_name, SHAPE)
    assert again.reused and again.counts == counts


def test_an_interrupted_template_build_continues_where_it_stopped(world, server, template_name):
    conn, counts, _ = world

    def interrupt(stage: str, done: int, total: int) -> None:
        if stage == "deliveries" and 0 < done < total:
            raise KeyboardInterrupt  # after the first chunk committed, as Ctrl-C would

    with pytest.raises(KeyboardInterrupt):
        world_template.build(server, template_name, SHAPE, interrupt, jobs=1, chunk_deliveries=1000)
    assert world_template.finished(server, template_name, SHAPE) is None
    with psycopg.connect(server.with_database(template_name).conninfo(), autocommit=True) as partial:
        written = scalar(partial, "select count(*) from message_deliveries")
    assert 0 < written < counts["message_deliveries"]

    result = world_template.build(server, template_name, SHAPE, jobs=2)
    assert result.resumed and result.counts == counts
    assert result.deliveries_written == counts["message_deliveries"] - written
    with psycopg.connect(server.with_database(template_name).conninfo(), autocommit=True) as built:
        assert built.execute(WORLD_DIGEST).fetchone() == conn.execute(WORLD_DIGEST).fetchone()


def test_a_template_build_never_touches_another_world_or_a_database_it_did_not_make(server, template_name):
    small = WorldShape(deliveries=600, guests_per_event=(50, 100), seed=11)
    world_template.build(server, template_name, small)
    with pytest.raises(world_template.TemplateError, match="--fresh"):
        world_template.build(server, template_name, replace(small, seed=12))
    assert world_template.finished(server, template_name, small) is not None  # kept as it was
    assert world_template.build(server, template_name, replace(small, seed=12), fresh=True).counts

    app_fixture.create_app_database(server, template_name)  # somebody's database under that name
    for fresh in (False, True):
        with pytest.raises(world_template.TemplateError, match="not a world this generator"):
            world_template.build(server, template_name, small, fresh=fresh)
    assert app_fixture.database_exists(server, template_name)


def test_a_template_build_checks_the_disk_first_and_says_what_it_needs(server, template_name):
    huge = WorldShape.production(10**13)
    with pytest.raises(world_template.TemplateError, match=r"not enough disk .* needs about [\d.]+ GB free"):
        world_template.build(server, template_name, huge)
    assert not app_fixture.database_exists(server, template_name)
