"""The benchmark's write-path workloads, run alternately on identical copies of one world.

Every workload gets one autocommit connection per variant (floor, project, baseline, experiments),
runs the same operations on each with the same ids, rotating which variant goes first, and times
each operation from the client (round trip and commit included, identically for all variants).
Afterwards it checks that the variants that link agree with each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter

import psycopg

from delivery_linkage.devtools.bench.results import Check, Target, Workload

Connections = dict[str, psycopg.Connection]
Tick = Callable[[int], None]

INSERT_MANY = """
insert into public.message_deliveries (message_id, guest_id, phone_number)
select %s, delivery.guest_id, delivery.phone_number
from unnest(%s::uuid[], %s::text[]) as delivery (guest_id, phone_number)
"""
INSERT_ONE = "insert into public.message_deliveries (message_id, guest_id, phone_number) values (%s, %s, %s)"
UPDATE_STATUS = "update public.message_deliveries set sms_status = %s where id = %s"
LINK_GUESTS = """
update public.event_guests as guest
set user_id = requested.user_id
from unnest(%s::uuid[], %s::uuid[]) as requested (guest_id, user_id)
where guest.id = requested.guest_id
"""
# the hand-written set-based way: link the guests, then give their NULL deliveries the guest's user
HAND_WRITTEN_DELIVERIES = """
update public.message_deliveries as delivery
set user_id = guest.user_id
from public.event_guests as guest
where guest.id = any(%s::uuid[])
  and delivery.guest_id = guest.id
  and delivery.user_id is null
  and guest.removed_at is null
  and guest.user_id is not null
"""
LINK_ONE_HAND_WRITTEN = """
with linked as (
    update public.event_guests set user_id = %s where id = %s
    returning id, user_id, removed_at
)
update public.message_deliveries as delivery
set user_id = linked.user_id
from linked
where delivery.guest_id = linked.id and delivery.user_id is null and linked.removed_at is null
"""
LINK_ONE = "update public.event_guests set user_id = %s where id = %s"

FLOOR, PROJECT, BASELINE = "floor", "project", "baseline"


@dataclass
class Announcement:
    event_id: uuid.UUID
    guest_ids: list[uuid.UUID]
    phones: list[str | None]


@dataclass
class WritePlan:
    """What the workloads touch, sampled once from the template so every copy gets the same ids."""

    seed: int
    announcements: list[Announcement]
    single_guests: list[tuple[uuid.UUID, uuid.UUID, str | None]]  # guest, event, phone
    status_ids: list[uuid.UUID]
    link_guests: list[uuid.UUID]  # active unlinked guests, in the order they are linked
    users: list[uuid.UUID]
    messages: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = field(default_factory=dict)

    def message_id(self, *parts: object) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_OID, f"delivery_linkage bench {self.seed}:" + ":".join(map(str, parts)))


def sample_plan(
    conn: psycopg.Connection,
    seed: int,
    announcements: int,
    guest_range: tuple[int, int],
    singles: int,
    status_updates: int,
    link_guests: int,
) -> WritePlan:
    """Deterministic samples (ordered by md5 of the id and the seed) from a world's template."""
    low, high = guest_range
    events = conn.execute(
        """
        select event_id, count(*) as guests
        from public.event_guests where removed_at is null
        group by event_id
        order by (count(*) between %s and %s) desc, abs(count(*) - %s), md5(event_id::text || %s)
        limit %s
        """,
        (low, high, high, seed, announcements),
    ).fetchall()
    plan_announcements = []
    for event_id, _ in events:
        rows = conn.execute(
            "select id, phone from public.event_guests where event_id = %s and removed_at is null order by id",
            (event_id,),
        ).fetchall()
        plan_announcements.append(Announcement(event_id, [r[0] for r in rows], [r[1] for r in rows]))
    single_guests = conn.execute(
        """
        select id, event_id, phone from public.event_guests where removed_at is null
        order by md5(id::text || %s) limit %s
        """,
        (seed, singles),
    ).fetchall()
    status_ids = [
        r[0]
        for r in conn.execute(
            "select id from public.message_deliveries order by md5(id::text || %s) limit %s",
            (seed, status_updates),
        )
    ]
    pool = [
        r[0]
        for r in conn.execute(
            """
            select id from public.event_guests where user_id is null and removed_at is null
            order by md5(id::text || %s) limit %s
            """,
            (seed, link_guests),
        )
    ]
    users = [
        r[0]
        for r in conn.execute("select id from public.users order by md5(id::text || %s) limit %s", (seed, len(pool)))
    ]
    return WritePlan(seed, plan_announcements, [tuple(r) for r in single_guests], status_ids, pool, users)


def create_messages(conns: Connections, messages: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """The same messages, ids included, in every variant (untimed)."""
    for conn in conns.values():
        conn.execute(
            """
            insert into public.messages (id, event_id, body, message_type)
            select id, event_id, 'benchmark announcement', 'announcement'
            from unnest(%s::uuid[], %s::uuid[]) as m (id, event_id)
            on conflict (id) do nothing
            """,
            ([m for m, _ in messages], [e for _, e in messages]),
        )


def rotate(variants: list[str], by: int) -> list[str]:
    k = by % len(variants)
    return variants[k:] + variants[:k]


def backend_cpu(conn: psycopg.Connection) -> float | None:
    """CPU seconds the connection's server process has used (Linux, same machine), else None."""
    try:
        with open(f"/proc/{conn.info.backend_pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Recorder:
    """Times operations per variant: wall clock from the client, and the server process's CPU time."""

    def __init__(self, workload: Workload, conns: Connections, measured: bool = True):
        self.workload, self.conns, self.measured = workload, conns, measured
        for variant in conns:
            workload.samples.setdefault(variant, [])
            workload.cpu.setdefault(variant, [])

    @contextmanager
    def __call__(self, variant: str, measured: bool = True) -> Iterator[psycopg.Connection]:
        conn = self.conns[variant]
        cpu_before = backend_cpu(conn)
        started = perf_counter()
        yield conn
        seconds = perf_counter() - started
        cpu_after = backend_cpu(conn)
        if measured:
            self.workload.samples[variant].append(seconds)
            if cpu_before is not None and cpu_after is not None:
                self.workload.cpu[variant].append(cpu_after - cpu_before)


def timed(record: Recorder, variant: str, statement: str, params: tuple, measured: bool = True) -> None:
    with record(variant, measured) as conn:
        conn.execute(statement, params, prepare=True)


# --- checks ----------------------------------------------------------------------------------------


def _compare(name: str, rows_by_variant: dict[str, list], variants: list[str], reference: str) -> Check:
    expected = rows_by_variant[reference]
    differing = [v for v in variants if v != reference and rows_by_variant[v] != expected]
    if not expected:
        return Check(name, False, "nothing to compare (no rows)")
    if differing:
        return Check(name, False, f"{', '.join(differing)} differ from {reference} ({len(expected)} rows)")
    return Check(name, True, f"{len(expected)} rows identical in {', '.join(variants)}")


def deliveries_of(conn: psycopg.Connection, message_ids: list[uuid.UUID]) -> list[tuple]:
    return conn.execute(
        """
        select message_id, guest_id, phone_number, user_id from public.message_deliveries
        where message_id = any(%s) order by message_id, guest_id nulls first, phone_number
        """,
        (message_ids,),
    ).fetchall()


def audits_of(conn: psycopg.Connection, message_ids: list[uuid.UUID]) -> list[tuple]:
    return conn.execute(
        """
        select d.message_id, d.guest_id, d.phone_number, a.event_id, a.normalized_phone, a.matched_guest_id,
               a.linked_user_id, a.outcome, a.reason, a.candidate_count
        from public.user_link_audit as a
        join public.message_deliveries as d on d.id = a.record_id
        where a.table_name = 'message_deliveries' and d.message_id = any(%s)
        order by d.message_id, d.guest_id nulls first, d.phone_number
        """,
        (message_ids,),
    ).fetchall()


def insert_checks(name: str, conns: Connections, message_ids: list[uuid.UUID]) -> list[Check]:
    linking = [v for v in conns if v != FLOOR]
    deliveries = {v: deliveries_of(c, message_ids) for v, c in conns.items()}
    checks = [_compare(f"{name}: same user_id in every linking variant", deliveries, linking, BASELINE)]
    if FLOOR in conns:
        floor_rows = deliveries[FLOOR]
        stripped = {v: [row[:3] for row in rows] for v, rows in deliveries.items()}
        checks.append(_compare(f"{name}: same deliveries in every variant", stripped, list(conns), FLOOR))
        checks.append(
            Check(
                f"{name}: floor links nothing",
                all(row[3] is None for row in floor_rows),
                f"{len(floor_rows)} rows",
            )
        )
        linked = sum(row[3] is not None for row in deliveries[BASELINE])
        checks.append(Check(f"{name}: something was linked", linked > 0, f"{linked} of {len(floor_rows)} linked"))
    audits = {v: audits_of(conns[v], message_ids) for v in linking}
    checks.append(_compare(f"{name}: same audit rows (outcome, reason, candidates…)", audits, linking, BASELINE))
    checks.append(
        Check(
            f"{name}: one audit row per delivery",
            len(audits[BASELINE]) == len(deliveries[BASELINE]),
            f"{len(audits[BASELINE])} audit rows, {len(deliveries[BASELINE])} deliveries",
        )
    )
    return checks


def link_checks(name: str, conns: Connections, guest_ids: list[uuid.UUID]) -> list[Check]:
    rows = {
        v: c.execute(
            "select guest_id, message_id, user_id from public.message_deliveries"
            " where guest_id = any(%s) order by 1, 2",
            (guest_ids,),
        ).fetchall()
        for v, c in conns.items()
    }
    checks = [_compare(f"{name}: same deliveries linked (hand-written, project, baseline)", rows, list(conns), FLOOR)]
    linked = sum(r[2] is not None for r in rows[FLOOR])
    checks.append(
        Check(f"{name}: deliveries were linked", linked > 0, f"{linked} deliveries of {len(guest_ids)} guests")
    )
    for v in conns:
        if v == FLOOR:
            continue
        audited = (
            conns[v]
            .execute(
                """
            select count(*) from public.user_link_audit
            where table_name = 'message_deliveries_backfill' and outcome = 'linked' and matched_guest_id = any(%s)
            """,
                (guest_ids,),
            )
            .fetchone()[0]
        )
        checks.append(
            Check(
                f"{name}: {v} audits each backfilled delivery",
                audited == linked,
                f"{audited} audit rows, {linked} deliveries linked",
            )
        )
    return checks


def audit_count(conn: psycopg.Connection) -> int:
    exists = conn.execute("select to_regclass('public.user_link_audit') is not null").fetchone()[0]
    return conn.execute("select count(*) from public.user_link_audit").fetchone()[0] if exists else 0


# --- workloads -------------------------------------------------------------------------------------


def announcement_sends(
    conns: Connections, plan: WritePlan, rounds: int, warmup: int, tick: Tick, target: Target | None
) -> tuple[Workload, list[Check]]:
    """One multi-row INSERT per message of all the event's active guests, each its own transaction."""
    variants = list(conns)
    messages = [
        (plan.message_id("announcement", r, i), a.event_id)
        for r in range(warmup + rounds)
        for i, a in enumerate(plan.announcements)
    ]
    create_messages(conns, messages)
    guests = sum(len(a.guest_ids) for a in plan.announcements) / max(1, len(plan.announcements))
    workload = Workload(
        "announcement_sends",
        f"announcement send (~{guests:.0f} guests, one INSERT)",
        FLOOR,
        "no linkage",
        "send",
        target,
        {v: [] for v in variants},
    )
    record = Recorder(workload, conns)
    for r in range(warmup + rounds):
        for i, announcement in enumerate(plan.announcements):
            params = (plan.message_id("announcement", r, i), announcement.guest_ids, announcement.phones)
            for v in rotate(variants, r + i):
                timed(record, v, INSERT_MANY, params, measured=r >= warmup)
            tick(1)
    measured = [
        plan.message_id("announcement", r, i) for r in range(warmup + rounds) for i in range(len(plan.announcements))
    ]
    return workload, insert_checks("announcement sends", conns, measured)


def single_inserts(
    conns: Connections,
    plan: WritePlan,
    rounds: int,
    warmup: int,
    tick: Tick,
    target: Target | None,
    phone_only: bool = False,
) -> tuple[Workload, list[Check]]:
    """One delivery per transaction; with phone_only the delivery names no guest (phone rules)."""
    variants = list(conns)
    kind = "phone_only" if phone_only else "single"
    events = sorted({event for _, event, _ in plan.single_guests}, key=str)
    create_messages(conns, [(plan.message_id(kind, r, e), e) for r in range(warmup + rounds) for e in events])
    key = "single_inserts_phone_only" if phone_only else "single_inserts"
    label = "single-row insert, phone only (no guest)" if phone_only else "single-row insert (one transaction)"
    workload = Workload(key, label, FLOOR, "no linkage", "insert", target, {v: [] for v in variants})
    record = Recorder(workload, conns)
    for r in range(warmup + rounds):
        for i, (guest_id, event_id, phone) in enumerate(plan.single_guests):
            params = (plan.message_id(kind, r, event_id), None if phone_only else guest_id, phone)
            for v in rotate(variants, r + i):
                timed(record, v, INSERT_ONE, params, measured=r >= warmup)
            tick(1)
    measured = [plan.message_id(kind, r, e) for r in range(warmup + rounds) for e in events]
    return workload, insert_checks(label, conns, measured)


def status_updates(
    conns: Connections, plan: WritePlan, rounds: int, warmup: int, tick: Tick, target: Target | None
) -> tuple[Workload, list[Check]]:
    """UPDATE of sms_status by id, one transaction each: no linking work may happen."""
    variants = list(conns)
    workload = Workload(
        "status_updates",
        "delivery status update (one row)",
        FLOOR,
        "no linkage",
        "update",
        target,
        {v: [] for v in variants},
    )
    per_round = len(plan.status_ids) // (warmup + rounds)
    audits_before = {v: audit_count(c) for v, c in conns.items()}
    user_ids_before = {
        v: c.execute(
            "select id, user_id from public.message_deliveries where id = any(%s) order by 1",
            (plan.status_ids,),
        ).fetchall()
        for v, c in conns.items()
    }
    statuses = ("sent", "delivered", "failed", "undelivered")
    record = Recorder(workload, conns)
    for r in range(warmup + rounds):
        for i, delivery_id in enumerate(plan.status_ids[r * per_round : (r + 1) * per_round]):
            for v in rotate(variants, r + i):
                timed(record, v, UPDATE_STATUS, (statuses[(r + i) % 4], delivery_id), measured=r >= warmup)
            tick(1)
    checks = []
    for v, c in conns.items():
        written = audit_count(c) - audits_before[v]
        after = c.execute(
            "select id, user_id from public.message_deliveries where id = any(%s) order by 1",
            (plan.status_ids,),
        ).fetchall()
        checks.append(
            Check(
                f"status updates: {v} does no linking work",
                written == 0 and after == user_ids_before[v],
                f"{written} audit rows written, user_ids {'unchanged' if after == user_ids_before[v] else 'CHANGED'}",
            )
        )
    return workload, checks


def bulk_guest_link(
    conns: Connections, plan: WritePlan, size: int, rounds: int, tick: Tick, target: Target | None
) -> tuple[Workload, list[Check], int]:
    """One UPDATE linking `size` guests; the floor runs the hand-written set-based delivery UPDATE with it."""
    variants = list(conns)
    workload = Workload(
        "bulk_guest_link",
        f"bulk guest link ({size:,} guests, one UPDATE)",
        FLOOR,
        "hand-written set-based UPDATE, no audit",
        "link",
        target,
        {v: [] for v in variants},
    )
    linked_guests: list[uuid.UUID] = []
    record = Recorder(workload, conns)
    for r in range(rounds):
        guests = plan.link_guests[r * size : (r + 1) * size]
        users = plan.users[r * size : (r + 1) * size]
        if len(guests) < size:
            break
        linked_guests += guests
        for v in rotate(variants, r):
            with record(v) as conn:
                if v == FLOOR:
                    with conn.transaction():
                        conn.execute(LINK_GUESTS, (guests, users))
                        conn.execute(HAND_WRITTEN_DELIVERIES, (guests,))
                else:
                    conn.execute(LINK_GUESTS, (guests, users))
        tick(1)
    workload.extra["deliveries_per_link"] = conns[FLOOR].execute(
        "select count(*) from public.message_deliveries where guest_id = any(%s)", (linked_guests,)
    ).fetchone()[0] // max(1, len(workload.samples[FLOOR]))
    return workload, link_checks("bulk guest link", conns, linked_guests), len(linked_guests)


def single_guest_links(
    conns: Connections,
    plan: WritePlan,
    offset: int,
    count: int,
    rounds: int,
    tick: Tick,
    target: Target | None = None,
) -> tuple[Workload, list[Check]]:
    """One guest linked per transaction; the floor runs guest and delivery UPDATE in one statement."""
    variants = list(conns)
    workload = Workload(
        "single_guest_links",
        "single guest link (one transaction)",
        FLOOR,
        "hand-written UPDATE of guest and deliveries",
        "link",
        target,
        {v: [] for v in variants},
    )
    guests = plan.link_guests[offset : offset + count * rounds]
    users = plan.users[offset : offset + count * rounds]
    record = Recorder(workload, conns)
    for i, (guest_id, user_id) in enumerate(zip(guests, users, strict=True)):
        for v in rotate(variants, i):
            timed(record, v, LINK_ONE_HAND_WRITTEN if v == FLOOR else LINK_ONE, (user_id, guest_id))
        tick(1)
    return workload, link_checks("single guest links", conns, guests)
