"""Synthetic app data at any scale: users, events, guests, announcements and their deliveries.

`generate(conn, WorldShape(deliveries=...))` writes a *history*, set-based (INSERT … SELECT over
generate_series, one statement per chunk of events, so memory stays bounded and progress can be
reported). Every value is a pure function of the seed and a row's position (hashint8extended and
md5), so the same seed gives the same world, ids included: one world per seed per database.

What the history holds, per event: guests (in `guests_per_event`), announcements (in
`messages_per_event`) each delivered to every guest. Linked guests (`linked_share`) point at a user
and mostly carry that user's phone in one of the app's many formats; of them `late_link_share` were
linked only after their deliveries were written, so those deliveries have user_id NULL: the
runbook's "linkable but NULL" defect (counted when the guest is active). A few guests share a phone
with another active guest of the event, a few were removed after the announcements, a few users
share a phone, and a few phones are empty, NULL or invalid.

Writing history means the linkage triggers must not fire: user triggers of event_guests and
message_deliveries are disabled (ALTER TABLE … DISABLE TRIGGER USER: table ownership needed, no
superuser) and afterwards each one is set back to exactly the state it had (O, D, R or A).

Transactions: everything runs inside `conn.transaction()`, so any psycopg connection works: with
autocommit, or without and no transaction open, it is one transaction committed at the end; inside
a transaction the caller opened, it is a savepoint and the caller commits. Other sessions never
see the triggers disabled, a failure leaves nothing behind, and event_guests and message_deliveries
stay locked (ACCESS EXCLUSIVE) until the transaction ends. 10M deliveries: about 3.5 minutes.

Shapes: the default (events of 50-500 guests, 2-12 announcements each) and `WorldShape.production`
(a successful app: 200-600 messages per event, about 250k guests per 100M deliveries). For worlds of
tens of millions of deliveries, world_template.py builds the same rows into a database of their own,
kept as a template: indexes after the rows, several writers, resumable (`linkage generate --template`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

SCHEMA = "public"
TRIGGER_TABLES = ("message_deliveries", "event_guests")
TABLES = ("users", "events", "messages", "event_guests", "message_deliveries")
CHUNK_DELIVERIES = 250_000
USER_CHUNK = 500_000
USER_STRIDE = 7919  # prime: a user appears at most once per event, sharing-phone users rarely together
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
VALID_FORMATS = 0.96  # fraction of phone format draws that give a valid number

Progress = Callable[[str, int, int], None]


class WorldExists(ValueError):
    """The database already holds this seed's world (same seed, same ids); nothing was written."""


@dataclass
class WorldShape:
    deliveries: int
    guests_per_event: tuple[int, int] = (50, 500)
    messages_per_event: tuple[int, int] = (2, 12)
    linked_share: float = 0.7
    late_link_share: float = 0.15
    shared_phone_share: float = 0.01
    removed_share: float = 0.03
    users_sharing_phone_share: float = 0.005
    seed: int = 42

    def __post_init__(self) -> None:
        (gmin, gmax), (mmin, mmax) = self.guests_per_event, self.messages_per_event
        if self.deliveries < 0 or not (1 <= gmin <= gmax) or not (1 <= mmin <= mmax <= 1000):
            raise ValueError(f"invalid WorldShape: {self}")

    @classmethod
    def production(cls, deliveries: int, seed: int = 42, **overrides) -> WorldShape:
        """A successful app's history: events of 50-500 guests that each get 200-600 messages (about
        250k guests per 100M deliveries, 900 events), 70 % of guests linked to a user, 3 % removed, 1 %
        sharing a phone with another guest of their event, 0.5 % of users sharing a phone; the linkage
        has long been running, so only 0.2 % of linked guests were linked after their deliveries were
        written (about 0.14 % of deliveries linkable but NULL: the runbook's warning, not critical)."""
        shape = {"guests_per_event": (50, 500), "messages_per_event": (200, 600), "late_link_share": 0.002}
        return cls(deliveries=deliveries, seed=seed, **(shape | overrides))


# --- SQL fragments (pure functions of the seed and positions) -------------------------------------


def _u(shape: WorldShape, expr: str, salt: int) -> str:
    """A uniform draw in [0, 1) from a bigint expression."""
    seed = shape.seed * 64 + salt
    return f"((hashint8extended(({expr})::bigint, {seed}) & 2147483647)::float8 / 2147483648.0)"


def _uuid(shape: WorldShape, kind: str, expr: str) -> str:
    return f"md5('{shape.seed}:{kind}:' || ({expr}))::uuid"


def _digits(n: str, areas: int, first_area: int, multiplier: int) -> str:
    """Ten US digits for n: a bijection of n onto `areas` area codes from `first_area` times 10^7 lines."""
    scrambled = f"((({n})::bigint * {multiplier} + 1234567) %% {areas * 10**7})"
    return f"(({first_area} + {scrambled} / 10000000)::text || lpad(({scrambled} %% 10000000)::text, 7, '0'))"


def _user_digits(k: str) -> str:
    """A user number's digits: area codes 201-799, unique per user number."""
    return _digits(k, 599, 201, 2654435761)


def _guest_digits(gg: str) -> str:
    """A guest's own digits: area codes 800-998, never a user's."""
    return _digits(gg, 199, 800, 2246822519)


def _user_base(shape: WorldShape, k: str) -> str:
    """The user whose number user k has: the previous user for users sharing a phone."""
    share = shape.users_sharing_phone_share / 2  # both users of a pair count
    return f"(case when ({k}) > 0 and {_u(shape, k, 7)} < {share} then ({k}) - 1 else ({k}) end)"


def _phone(d: str, f: str) -> str:
    """Digits d in one of the app's formats, chosen by f in [0, 1); f >= VALID_FORMATS is not a phone."""
    a, b, c = f"substr({d}, 1, 3)", f"substr({d}, 4, 3)", f"substr({d}, 7, 4)"
    return f"""(case
        when {f} < 0.40 then '+1' || {d}
        when {f} < 0.60 then '(' || {a} || ') ' || {b} || '-' || {c}
        when {f} < 0.75 then {a} || '.' || {b} || '.' || {c}
        when {f} < 0.90 then '1-' || {a} || '-' || {b} || '-' || {c}
        when {f} < {VALID_FORMATS} then {d}
        when {f} < 0.975 then null
        when {f} < 0.985 then ''
        when {f} < 0.993 then substr({d}, 4, 7)
        else 'n/a' end)"""


# --- planning --------------------------------------------------------------------------------------


@dataclass
class _Event:
    number: int
    guests: int
    messages: int
    guest_start: int
    message_start: int
    user_offset: int
    t0: datetime


def _plan_sizes(shape: WorldShape, rng: random.Random) -> list[tuple[int, int]]:
    """(guests, messages) per event; the last event is fitted so the total lands on the target."""
    (gmin, gmax), (mmin, mmax) = shape.guests_per_event, shape.messages_per_event
    sizes: list[tuple[int, int]] = []
    total = 0
    while total < shape.deliveries:
        g, m = rng.randint(gmin, gmax), rng.randint(mmin, mmax)
        remaining = shape.deliveries - total
        if g * m > remaining:
            fits = [(max(gmin, min(gmax, round(remaining / mm))), mm) for mm in range(mmin, mmax + 1)]
            g, m = min(fits, key=lambda gm: (abs(gm[0] * gm[1] - remaining), abs(gm[1] - m)))
            if abs(g * m - remaining) < remaining:
                sizes.append((g, m))
            break
        sizes.append((g, m))
        total += g * m
    return sizes


def plan(shape: WorldShape) -> tuple[list[_Event], int]:
    """The events (sizes, positions, start times) and the number of users: a pure function of the shape."""
    rng = random.Random(shape.seed)
    sizes = _plan_sizes(shape, rng)
    guests = sum(g for g, _ in sizes)
    users = max(shape.guests_per_event[1] + 1, round(guests * shape.linked_share / 3))
    while users % USER_STRIDE == 0:
        users += 1
    events, guest_start, message_start = [], 0, 0
    for number, (g, m) in enumerate(sizes):
        t0 = EPOCH + timedelta(days=rng.random() * 730)
        events.append(_Event(number, g, m, guest_start, message_start, rng.randrange(users), t0))
        guest_start += g
        message_start += m
    return events, users


def chunks(events: list[_Event], deliveries: int = CHUNK_DELIVERIES) -> list[list[_Event]]:
    """Consecutive events in groups of about `deliveries` deliveries: one statement each. The rows an
    event gets do not depend on the grouping."""
    chunks: list[list[_Event]] = [[]]
    size = 0
    for event in events:
        if size >= deliveries:
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += event.guests * event.messages
    return [chunk for chunk in chunks if chunk]


def chunk_params(chunk: list[_Event]) -> dict[str, list]:
    return {
        "e": [e.number for e in chunk],
        "g": [e.guests for e in chunk],
        "m": [e.messages for e in chunk],
        "gs": [e.guest_start for e in chunk],
        "ms": [e.message_start for e in chunk],
        "uo": [e.user_offset for e in chunk],
        "t0": [e.t0 for e in chunk],
    }


def flatten(groups: list[list[_Event]]) -> list[_Event]:
    return [event for group in groups for event in group]


# --- statements ------------------------------------------------------------------------------------


def users_sql(shape: WorldShape) -> str:
    """Inserts users %(lo)s to %(hi)s."""
    k = "k"
    fmt = f"(case when {_u(shape, k, 8)} < 0.8 then 0 else ({_u(shape, k, 9)}) end)"
    return f"""
        insert into {SCHEMA}.users (id, phone, email, display_name, created_at)
        select {_uuid(shape, 'u', k)}, {_phone(_user_digits(_user_base(shape, k)), fmt)},
               'user' || k || '.s{shape.seed}@example.test', 'User ' || k,
               timestamptz '2022-01-01 00:00+00' + {_u(shape, k, 10)} * interval '365 days'
        from generate_series(%(lo)s::bigint, %(hi)s::bigint) as k
    """


def chunk_sql(shape: WorldShape, users: int) -> str:
    """Inserts a chunk's events, messages, guests and deliveries (parameters: chunk_params); returns
    the chunk's guests, deliveries and linkable-but-NULL deliveries."""
    s = shape
    gg, dd = "x.gg", "(g.gg * 1024 + k.k)"
    return f"""
    with plan as materialized (
        select * from unnest(%(e)s::bigint[], %(g)s::int[], %(m)s::int[], %(gs)s::bigint[],
                             %(ms)s::bigint[], %(uo)s::bigint[], %(t0)s::timestamptz[])
            as p (e, g_count, m_count, g_start, m_start, u_off, t0)
    ),
    ins_events as (
        insert into {SCHEMA}.events (id, title, starts_at, created_at)
        select {_uuid(s, 'e', 'e')}, 'Event ' || e, t0 + (m_count + 3) * interval '1 day', t0 from plan
    ),
    ins_messages as (
        insert into {SCHEMA}.messages (id, event_id, body, message_type, created_at)
        select {_uuid(s, 'm', 'm_start + k')}, {_uuid(s, 'e', 'e')},
               'Announcement ' || (k + 1) || ' for event ' || e, 'announcement',
               t0 + (k + 1) * interval '1 day'
        from plan cross join generate_series(0, m_count - 1) as k
    ),
    raw as (
        select p.e, p.m_count, p.m_start, p.t0, i.i, x.gg,
               {_u(s, gg, 1)} < {s.linked_share} as linked,
               {_u(s, gg, 2)} < {s.late_link_share} as late_pick,
               i.i > 0 and {_u(s, gg, 3)} < {s.shared_phone_share / 2} as shared,
               i.i + 1 < p.g_count and {_u(s, gg + ' + 1', 3)} < {s.shared_phone_share / 2} as shared_next,
               {_u(s, gg, 4)} < {s.removed_share} as removed_pick,
               {_u(s, gg, 5)} < 0.95 as user_phone,
               {_u(s, gg, 6)} as fmt,
               (p.u_off + i.i * {USER_STRIDE}) %% {users} as user_k
        from plan as p
        cross join generate_series(0, p.g_count - 1) as i (i)
        cross join lateral (select p.g_start + i.i as gg) as x
    ),
    numbered as (
        select raw.*,
               case when linked and user_phone then {_user_digits(_user_base(s, 'user_k'))}
                    else {_guest_digits('gg')} end as digits
        from raw
    ),
    drawn as (
        select n.*,
               n.linked and n.late_pick as late,
               n.removed_pick and not n.shared and not n.shared_next as removed,
               case when n.shared or n.shared_next then n.fmt * {VALID_FORMATS} else n.fmt end as fmt_eff,
               case when n.shared then lag(n.digits) over w else n.digits end as phone_digits,
               n.t0 - (1 + {_u(s, 'n.gg', 11)} * 20) * interval '1 day' as created
        from numbered as n
        window w as (partition by n.e order by n.i)
    ),
    guests as materialized (
        select {_uuid(s, 'g', 'gg')} as id, {_uuid(s, 'e', 'e')} as event_id, gg, m_count, m_start, t0,
               linked, late, removed, fmt_eff < {VALID_FORMATS} as valid,
               case when linked then {_uuid(s, 'u', 'user_k')} end as user_id,
               {_phone('phone_digits', 'fmt_eff')} as phone,
               created,
               case when late then t0 + (m_count + 1 + {_u(s, 'gg', 12)} * 30) * interval '1 day' end
                   as linked_at,
               case when removed then t0 + (m_count + 2 + {_u(s, 'gg', 13)} * 10) * interval '1 day' end
                   as removed_at,
               {_u(s, 'gg', 14)} as rsvp
        from drawn
    ),
    ins_guests as (
        insert into {SCHEMA}.event_guests
            (id, event_id, user_id, phone, guest_name, rsvp_status, removed_at, created_at, updated_at)
        select id, event_id, user_id, phone, 'Guest ' || gg,
               case when removed then 'declined' when rsvp < 0.6 then 'attending'
                    when rsvp < 0.75 then 'declined' when rsvp < 0.85 then 'maybe' else 'pending' end,
               removed_at, created, greatest(created, linked_at, removed_at)
        from guests
    ),
    ins_deliveries as (
        insert into {SCHEMA}.message_deliveries (id, message_id, guest_id, phone_number, user_id,
            sms_status, push_status, provider_sid, created_at, updated_at)
        select h.h::uuid, {_uuid(s, 'm', 'g.m_start + k.k')}, g.id, g.phone, d.user_id,
               case when not g.valid then 'failed' when h.sms < 0.88 then 'delivered'
                    when h.sms < 0.93 then 'sent' when h.sms < 0.97 then 'failed' else 'undelivered' end,
               case when d.user_id is null then 'not_applicable'
                    when h.push < 0.9 then 'delivered' else 'failed' end,
               case when g.valid then 'SM' || h.h end,
               h.at, h.at + interval '40 seconds'
        from guests as g
        cross join generate_series(0, g.m_count - 1) as k (k)
        cross join lateral (select case when g.linked and not g.late then g.user_id end as user_id) as d
        cross join lateral (
            select md5('{s.seed}:d:' || g.gg || ':' || k.k) as h,
                   {_u(s, dd, 15)} as sms, {_u(s, dd, 16)} as push,
                   g.t0 + (k.k + 1) * interval '1 day' + {_u(s, dd, 17)} * interval '10 minutes' as at
        ) as h
    )
    select count(*), coalesce(sum(m_count), 0), coalesce(sum(m_count) filter (where late and not removed), 0)
    from guests
    """


# --- triggers --------------------------------------------------------------------------------------

_RESTORE = {
    "O": "enable trigger",
    "D": "disable trigger",
    "R": "enable replica trigger",
    "A": "enable always trigger",
}


def _trigger_states(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(table, trigger, tgenabled) of every user trigger on the linkage's tables."""
    return conn.execute(
        """
        select c.relname::text, t.tgname::text, t.tgenabled::text
        from pg_catalog.pg_trigger as t
        join pg_catalog.pg_class as c on c.oid = t.tgrelid
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = any(%s) and not t.tgisinternal
        order by 1, 2
        """,
        (SCHEMA, list(TRIGGER_TABLES)),
    ).fetchall()


def disable_triggers(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    states = _trigger_states(conn)
    for table in TRIGGER_TABLES:
        statement = sql.SQL("alter table {}.{} disable trigger user")
        conn.execute(statement.format(sql.Identifier(SCHEMA), sql.Identifier(table)))
    return states


def restore_triggers(conn: psycopg.Connection, states: list[tuple[str, str, str]]) -> None:
    for table, trigger, enabled in states:
        conn.execute(
            sql.SQL("alter table {}.{} " + _RESTORE[enabled] + " {}").format(
                sql.Identifier(SCHEMA), sql.Identifier(table), sql.Identifier(trigger)
            )
        )


def analyze(conn: psycopg.Connection) -> None:
    names = sql.SQL(", ").join(sql.Identifier(SCHEMA, table) for table in TABLES)
    conn.execute(sql.SQL("analyze {}").format(names))


# --- public API ------------------------------------------------------------------------------------


def planned_counts(events: list[_Event], users: int) -> dict[str, int]:
    """The counts generate() returns, before any chunk is written: the planned users, events and
    messages, and zero guests, deliveries and linkable-but-NULL deliveries (each chunk adds its own)."""
    return {
        "users": users,
        "events": len(events),
        "messages": sum(e.messages for e in events),
        "event_guests": 0,
        "message_deliveries": 0,
        "linkable_null": 0,
    }


def generate(conn: psycopg.Connection, shape: WorldShape, progress: Progress | None = None) -> dict[str, int]:
    """Write the world `shape` describes; returns rows written per table and `linkable_null`.

    `linkable_null`: deliveries with user_id NULL whose guest is active and linked. Progress is
    reported as (stage, done, total) with stages 'users', 'deliveries' and 'analyze'.
    """
    report = progress or (lambda stage, done, total: None)
    events, users = plan(shape)
    counts = planned_counts(events, users)
    total = sum(e.guests * e.messages for e in events)
    try:
        _write(conn, shape, events, users, counts, total, report)
    except psycopg.errors.UniqueViolation as error:
        raise WorldExists(
            f"the database already holds the world of seed {shape.seed} "
            f"({error.diag.constraint_name or 'a primary key'} is taken: the same seed writes the same ids); "
            "nothing was written\n"
            f"  fix: add another world with a different seed (`--seed {shape.seed + 1}`), or start over with "
            "`--fresh` (embedded server only)"
        ) from None
    return counts


def _write(conn, shape: WorldShape, events: list[_Event], users: int, counts: dict, total: int, report) -> None:
    with conn.transaction():
        conn.execute("set local work_mem = '64MB'")
        states = disable_triggers(conn)
        statement = users_sql(shape)
        for lo in range(0, users, USER_CHUNK):
            hi = min(users, lo + USER_CHUNK) - 1
            conn.execute(statement, {"lo": lo, "hi": hi})
            report("users", hi + 1, users)
        statement = chunk_sql(shape, users)
        for chunk in chunks(events):
            guests, deliveries, linkable_null = conn.execute(statement, chunk_params(chunk)).fetchone()
            counts["event_guests"] += guests
            counts["message_deliveries"] += deliveries
            counts["linkable_null"] += linkable_null
            report("deliveries", counts["message_deliveries"], total)
        restore_triggers(conn, states)
        report("analyze", 0, 1)
        analyze(conn)
        report("analyze", 1, 1)
