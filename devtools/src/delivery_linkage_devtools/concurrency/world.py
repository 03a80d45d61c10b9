"""The world the concurrency benchmark plays in: generated from a seed, deployed once, copied per run.

`build_template` creates a database holding the app fixture, a generated world (users, events,
guests, a history of announcements), the linkage deployed by dbt as a user deploys it, and the
benchmark's own bookkeeping schema `concurrency_bench`. Each run gets a `CREATE DATABASE … TEMPLATE`
copy of it, so the linkage run and the control run start from byte-identical data.

Every id is drawn from the seed, so the same seed gives the same world and the workload plan can
name guests, users and messages before any database exists.

Foreign keys to users are recreated `ON DELETE SET NULL`, the deliveries' first and the guests'
second, as a migration that recreates the guests' key leaves them on a live app: the order in which
PostgreSQL runs the two actions when a user is deleted.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage_devtools import app_fixture

BOOKKEEPING_SCHEMA = "concurrency_bench"
# the runbook's names and the helpers of the current deploy; any trigger on the app's tables whose
# comment starts with "delivery_linkage" counts too (every trigger the deploy creates is commented so)
KNOWN_LINKAGE_TRIGGERS = (
    "trigger_message_deliveries_auto_link_user",
    "trigger_message_deliveries_auto_link_user_on_update",
    "trigger_message_deliveries_audit_links",
    "trigger_backfill_deliveries_on_guest_link",
    "trigger_backfill_deliveries_on_guest_insert",
)
LINKAGE_COMMENT_PREFIX = "delivery_linkage"
APP_TABLES = ("message_deliveries", "event_guests", "users", "messages", "events", "feature_flags")


@dataclass(frozen=True)
class WorldShape:
    """Sizes of the generated world. The defaults are the full benchmark's."""

    events: int = 60
    hot_events: int = 6  # half the traffic goes to these
    guests_per_event: tuple[int, int] = (50, 400)
    linked_share: float = 0.5  # guests linked to a user at the start
    removed_share: float = 0.05
    shared_phone_share: float = 0.02  # guests sharing a phone with another guest of their event
    account_users: int = 4000  # users the workload links guests to
    user_phone_share: float = 0.1  # unlinked guests whose phone is also a user's (the users-phone fallback)
    deletable_users: int = 200  # users linked to a guest, which the workload may delete
    history_messages_per_event: int = 3
    upsert_messages_per_event: int = 4
    seed: int = 1

    @classmethod
    def quick(cls, seed: int = 1) -> WorldShape:
        return cls(
            events=10,
            hot_events=3,
            guests_per_event=(10, 40),
            account_users=300,
            deletable_users=30,
            history_messages_per_event=2,
            upsert_messages_per_event=3,
            seed=seed,
        )


@dataclass
class World:
    """What the workload plan may name: ids of the generated world."""

    shape: WorldShape
    events: list[uuid.UUID]
    guests_by_event: dict[uuid.UUID, list[uuid.UUID]]
    guest_phone: dict[uuid.UUID, str]
    guest_user: dict[uuid.UUID, uuid.UUID | None]
    account_users: list[uuid.UUID]
    deletable_users: list[uuid.UUID]
    history_messages: dict[uuid.UUID, list[uuid.UUID]]
    upsert_messages: dict[uuid.UUID, list[uuid.UUID]]
    user_phone: dict[uuid.UUID, str | None] = field(default_factory=dict)
    removed: set[uuid.UUID] = field(default_factory=set)

    @property
    def hot_events(self) -> list[uuid.UUID]:
        return self.events[: self.shape.hot_events]

    @property
    def guest_count(self) -> int:
        return sum(len(g) for g in self.guests_by_event.values())


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def phone_number(n: int) -> str:
    """A distinct E.164 number per n."""
    return f"+1555{n:07d}"


def generate(shape: WorldShape) -> World:
    """The world's ids and attributes, a pure function of the shape (seed included)."""
    rng = random.Random(f"world:{shape.seed}")
    account_users = [new_id(rng) for _ in range(shape.account_users)]
    deletable_users = [new_id(rng) for _ in range(shape.deletable_users)]
    user_phone: dict[uuid.UUID, str | None] = {u: None for u in account_users + deletable_users}
    events = [new_id(rng) for _ in range(shape.events)]
    world = World(
        shape=shape,
        events=events,
        guests_by_event={},
        guest_phone={},
        guest_user={},
        account_users=account_users,
        deletable_users=deletable_users,
        history_messages={e: [new_id(rng) for _ in range(shape.history_messages_per_event)] for e in events},
        upsert_messages={e: [new_id(rng) for _ in range(shape.upsert_messages_per_event)] for e in events},
        user_phone=user_phone,
    )
    number = 0
    deletable = list(deletable_users)
    for event in events:
        guests = []
        users_here: set[uuid.UUID] = set()
        for _ in range(rng.randint(*shape.guests_per_event)):
            guest = new_id(rng)
            number += 1
            phone = phone_number(number)
            if guests and rng.random() < shape.shared_phone_share:
                phone = world.guest_phone[rng.choice(guests)]
            user = None
            if rng.random() < shape.linked_share:
                if deletable and rng.random() < 0.1:
                    user = deletable.pop()
                else:
                    user = rng.choice(account_users)
                    while user in users_here:
                        user = rng.choice(account_users)
                users_here.add(user)
                if user_phone[user] is None:
                    user_phone[user] = phone
            elif rng.random() < shape.user_phone_share:
                free = [u for u in rng.sample(account_users, 5) if user_phone[u] is None]
                if free:
                    user_phone[free[0]] = phone
            if rng.random() < shape.removed_share:
                world.removed.add(guest)
            guests.append(guest)
            world.guest_phone[guest] = phone
            world.guest_user[guest] = user
        world.guests_by_event[event] = guests
    # deletable users nobody took are linked to a guest of the last event, so each has deliveries
    for user in deletable:
        guest = rng.choice(world.guests_by_event[events[-1]])
        world.guest_user[guest] = user
    return world


def load(conn: psycopg.Connection, world: World) -> None:
    """Writes the world (no linkage deployed yet: the history is the app's own)."""
    with conn.cursor() as cursor:
        with cursor.copy("copy public.users (id, phone) from stdin") as copy:
            for user, phone in world.user_phone.items():
                copy.write_row((user, phone))
        with cursor.copy("copy public.events (id, title) from stdin") as copy:
            for index, event in enumerate(world.events):
                copy.write_row((event, f"Event {index + 1}"))
        with cursor.copy(
            "copy public.event_guests (id, event_id, user_id, phone, guest_name, removed_at) from stdin"
        ) as copy:
            for event, guests in world.guests_by_event.items():
                for index, guest in enumerate(guests):
                    removed = "2024-01-01 00:00:00+00" if guest in world.removed else None
                    copy.write_row(
                        (guest, event, world.guest_user[guest], world.guest_phone[guest], f"Guest {index}", removed)
                    )
        with cursor.copy("copy public.messages (id, event_id, body, message_type) from stdin") as copy:
            for event in world.events:
                for message in world.history_messages[event]:
                    copy.write_row((message, event, "Announcement", "announcement"))
                for message in world.upsert_messages[event]:
                    copy.write_row((message, event, "Reminder", "direct"))
    # history: every announcement delivered to the guests active then, with their user as the app wrote it
    history = [m for messages in world.history_messages.values() for m in messages]
    conn.execute(
        """
        insert into public.message_deliveries (message_id, guest_id, phone_number, user_id, sms_status)
        select m.id, g.id, g.phone, g.user_id, 'delivered'
        from public.messages as m
        join public.event_guests as g on g.event_id = m.event_id and g.removed_at is null
        where m.id = any(%s)
        order by m.id, g.id
        """,
        (history,),
    )


def recreate_user_foreign_keys(conn: psycopg.Connection) -> None:
    """Both keys to users ON DELETE SET NULL: the deliveries' first, then the guests' (as a migration
    recreating the guests' key leaves them)."""
    app_fixture.user_foreign_keys_set_null(conn, ("message_deliveries", "event_guests"))


def create_bookkeeping(conn: psycopg.Connection) -> None:
    """concurrency_bench.app_written_links: the (message, guest, user) links the app itself wrote, the
    history's included; the invariant checker does not ask the linkage's audit about those."""
    conn.execute(f"create schema if not exists {BOOKKEEPING_SCHEMA}")
    conn.execute(
        f"""
        create table if not exists {BOOKKEEPING_SCHEMA}.app_written_links (
            message_id uuid not null,
            guest_id uuid,
            user_id uuid not null,
            source text not null
        )
        """
    )
    conn.execute(
        f"""
        insert into {BOOKKEEPING_SCHEMA}.app_written_links (message_id, guest_id, user_id, source)
        select d.message_id, d.guest_id, d.user_id, 'history'
        from public.message_deliveries as d where d.user_id is not null
        """
    )


def deploy_linkage(settings: connection.ConnectionSettings, target_path: str) -> None:
    """The project's linkage as a user deploys it (`dbt run-operation deploy`)."""
    dbt_runner.run_dbt(
        ["run-operation", "deploy"],
        settings,
        variables={"linkage_inline_index_max_rows": 10**12},
        target_path=target_path,
    ).check()


def build_template(
    server: connection.ConnectionSettings, dbname: str, shape: WorldShape, target_path: str = "target/concurrency"
) -> World:
    """A template database: app fixture, generated world, linkage deployed, vacuumed and analysed."""
    world = generate(shape)
    app_fixture.create_app_database(server, dbname)
    settings = server.with_database(dbname)
    with connection.connect(settings) as conn:
        with conn.transaction():
            recreate_user_foreign_keys(conn)
            load(conn, world)
            create_bookkeeping(conn)
    deploy_linkage(settings, target_path)
    with connection.connect(settings) as conn:
        conn.execute("update public.feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE'")
        conn.execute(
            "update public.feature_flags set enabled = false where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'"
        )
        conn.execute("vacuum analyze")
    return world


def linkage_triggers(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(table, trigger, enabled state) of every trigger of the linkage on the app's tables: those named
    as the project names them, and any commented delivery_linkage…"""
    return conn.execute(
        """
        select c.relname::text, t.tgname::text, t.tgenabled::text
        from pg_trigger as t
        join pg_class as c on c.oid = t.tgrelid
        join pg_namespace as n on n.oid = c.relnamespace
        where not t.tgisinternal
          and n.nspname = 'public'
          and c.relname = any(%s)
          and (t.tgname = any(%s) or coalesce(obj_description(t.oid, 'pg_trigger'), '') like %s)
        order by 1, 2
        """,
        (list(APP_TABLES), list(KNOWN_LINKAGE_TRIGGERS), LINKAGE_COMMENT_PREFIX + "%"),
    ).fetchall()


def disable_linkage_triggers(conn: psycopg.Connection) -> list[str]:
    """The control: every linkage trigger disabled (ALTER TABLE … DISABLE TRIGGER). Returns them."""
    disabled = []
    for table, trigger, _ in linkage_triggers(conn):
        conn.execute(
            sql.SQL("alter table {}.{} disable trigger {}").format(
                sql.Identifier("public"), sql.Identifier(table), sql.Identifier(trigger)
            )
        )
        disabled.append(f"{table}.{trigger}")
    if not disabled:
        raise RuntimeError("no linkage trigger found to disable: is the linkage deployed in this database?")
    return disabled
