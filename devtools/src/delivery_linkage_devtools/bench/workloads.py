"""The benchmark's write-path workloads, run alternately on identical copies of one world.

Every workload gets one autocommit connection per variant (floor, project, baseline, experiments;
the references ideal_app and minimal_trigger where they apply), runs the same operations on each with
the same ids, rotating which variant goes first, and times each operation from the client (round trip
and commit included, identically for all variants). The ideal app runs its own statements
(bench/ideal_app.sql: user_id set in the INSERT through a join); every other variant runs the app's.
Afterwards it checks that the variants that link agree with each other.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter

import psycopg
from psycopg import sql

from delivery_linkage_devtools import CHECKOUT_DIR
from delivery_linkage_devtools.bench.results import (
    BASELINE,
    FLOOR,
    IDEAL_APP,
    REFERENCES,
    Check,
    StorageGrowth,
    Target,
    Workload,
)

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
EDIT_GUEST_NAME = "update public.event_guests set guest_name = %s where id = %s"
DELETE_USER = "delete from public.users where id = %s"

IDEAL_APP_SQL = CHECKOUT_DIR / "bench" / "ideal_app.sql"
APP_STATEMENTS = {"insert_many": INSERT_MANY, "insert_one": INSERT_ONE}


@functools.cache
def ideal_app_statements() -> dict[str, str]:
    """bench/ideal_app.sql's statements by name (`-- statement: NAME` up to the next one), comments dropped."""
    statements: dict[str, str] = {}
    for block in re.split(r"^-- statement: *", IDEAL_APP_SQL.read_text(), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        code = "\n".join(line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("--"))
        statements[name.strip()] = code
    missing = set(APP_STATEMENTS) - set(statements)
    if missing:
        raise ValueError(f"{IDEAL_APP_SQL}: no statement named {', '.join(sorted(missing))}")
    return statements


def statement(variant: str, name: str) -> str:
    """The app's statement as this variant runs it: the ideal app's own, else the app's."""
    return ideal_app_statements()[name] if variant == IDEAL_APP else APP_STATEMENTS[name]


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
    name_edit_guests: list[uuid.UUID] = field(default_factory=list)
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
    name_edits: int = 0,
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
    name_edit_guests = [
        r[0]
        for r in conn.execute(
            "select id from public.event_guests order by md5(id::text || %s || 'name') limit %s", (seed, name_edits)
        )
    ]
    return WritePlan(
        seed, plan_announcements, [tuple(r) for r in single_guests], status_ids, pool, users, name_edit_guests
    )


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


def sweep(conn: psycopg.Connection) -> None:
    """Where the variant has the project's sweeper, runs it until its queue is empty: a guest's link is
    backfilled there, after it commits, so the link's whole work is the UPDATE and the sweep."""
    if conn.execute("select to_regproc('delivery_linkage.sweep_guest_link_queue') is not null").fetchone()[0]:
        for _ in range(100):
            if not conn.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0]:
                return


# --- checks ----------------------------------------------------------------------------------------


def _compare(name: str, rows_by_variant: dict[str, list], variants: list[str], reference: str) -> Check:
    expected = rows_by_variant[reference]
    differing = [v for v in variants if v != reference and rows_by_variant[v] != expected]
    if not expected:
        return Check(name, False, "nothing to compare (no rows)")
    if differing:
        first = differing[0]
        rows = rows_by_variant[first]
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, rows, strict=False)) if a != b), min(len(expected), len(rows))
        )
        shown = [r[at] if at < len(r) else "(no row)" for r in (expected, rows)]
        return Check(
            name,
            False,
            f"{', '.join(differing)} differ from {reference} ({len(expected)} rows; {len(rows)} in {first}); first"
            f" difference, row {at}: {reference} {shown[0]} / {first} {shown[1]}"[:600],
        )
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
    """Every variant that links (references included) sets the same user_ids; the audited ones (project,
    baseline, experiments) write the same audit rows, one per delivery."""
    linking = [v for v in conns if v != FLOOR]
    audited = [v for v in linking if v not in REFERENCES]
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
    audits = {v: audits_of(conns[v], message_ids) for v in audited}
    checks.append(_compare(f"{name}: same audit rows (outcome, reason, candidates…)", audits, audited, BASELINE))
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
                timed(record, v, statement(v, "insert_many"), params, measured=r >= warmup)
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
                timed(record, v, statement(v, "insert_one"), params, measured=r >= warmup)
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


def no_linking_work(name: str, conns: Connections, before: dict[str, tuple[int, int]]) -> list[Check]:
    """A check per variant: no audit row and no queue entry written since `before` (linking_state)."""
    checks = []
    for v, c in conns.items():
        audits, queued = (after - then for after, then in zip(linking_state(c), before[v], strict=True))
        checks.append(
            Check(
                f"{name}: {v} does no linking work",
                audits == 0 and queued == 0,
                f"{audits} audit rows, {queued} queue entries written",
            )
        )
    return checks


def linking_state(conn: psycopg.Connection) -> tuple[int, int]:
    """(audit rows, entries ever queued for the sweeper) of a variant's copy; 0 where it has none."""
    queue = conn.execute("select to_regclass('delivery_linkage.guest_link_queue') is not null").fetchone()[0]
    queued = (
        conn.execute("select coalesce(max(id), 0) from delivery_linkage.guest_link_queue").fetchone()[0] if queue else 0
    )
    return audit_count(conn), queued


def guest_name_edits(
    conns: Connections, plan: WritePlan, rounds: int, warmup: int, tick: Tick, target: Target | None
) -> tuple[Workload, list[Check]]:
    """UPDATE of a guest's name by id, one transaction each (no column the linkage reads): no linking
    work may happen."""
    variants = list(conns)
    workload = Workload(
        "guest_name_edits",
        "guest name edit (one row)",
        FLOOR,
        "no linkage",
        "update",
        target,
        {v: [] for v in variants},
    )
    per_round = len(plan.name_edit_guests) // (warmup + rounds)
    before = {v: linking_state(c) for v, c in conns.items()}
    record = Recorder(workload, conns)
    for r in range(warmup + rounds):
        for i, guest_id in enumerate(plan.name_edit_guests[r * per_round : (r + 1) * per_round]):
            name = f"Guest {r}.{i}"
            for v in rotate(variants, r + i):
                timed(record, v, EDIT_GUEST_NAME, (name, guest_id), measured=r >= warmup)
            tick(1)
    checks = no_linking_work("guest name edits", conns, before)
    names = {
        v: c.execute(
            "select id, guest_name, user_id from public.event_guests where id = any(%s) order by id",
            (plan.name_edit_guests,),
        ).fetchall()
        for v, c in conns.items()
    }
    checks.append(_compare("guest name edits: same guests in every variant", names, variants, FLOOR))
    return workload, checks


@dataclass
class DoomedUser:
    """A user built for deletion: one guest in each of several events, `deliveries` deliveries in all."""

    user_id: uuid.UUID
    phone: str
    guests: list[tuple[uuid.UUID, uuid.UUID]]  # (guest, event)
    messages: list[list[uuid.UUID]]  # per guest, the messages it was sent


def doomed_user(plan: WritePlan, index: int, events: list[uuid.UUID], deliveries: int) -> DoomedUser:
    def uid(*parts: object) -> uuid.UUID:
        return plan.message_id("doomed_user", index, *parts)

    per_event = [deliveries // len(events) + (1 if e < deliveries % len(events) else 0) for e in range(len(events))]
    return DoomedUser(
        uid("user"),
        f"+1999{plan.seed % 1000:03d}{index:04d}",
        [(uid("guest", e), event) for e, event in enumerate(events)],
        [[uid("message", e, k) for k in range(count)] for e, count in enumerate(per_event)],
    )


def build_doomed_user(conn: psycopg.Connection, user: DoomedUser) -> None:
    """The user, as the app makes one: the user's row; a guest of each event linked to it; messages,
    each sent to that guest by one INSERT per event with the guest's user_id (so every variant holds
    the same rows, linked alike). Then, where the variant has a sweeper, its queue is emptied, as the
    sweeper running beside the app would have."""
    with conn.transaction():
        conn.execute("insert into public.users (id, phone) values (%s, %s)", (user.user_id, user.phone))
        for (guest_id, event_id), messages in zip(user.guests, user.messages, strict=True):
            conn.execute(
                "insert into public.event_guests (id, event_id, user_id, phone, guest_name)"
                " values (%s, %s, %s, %s, 'Doomed guest')",
                (guest_id, event_id, user.user_id, user.phone),
            )
            conn.execute(
                "insert into public.messages (id, event_id, body, message_type)"
                " select id, %s, 'benchmark message', 'direct' from unnest(%s::uuid[]) as m (id)",
                (event_id, messages),
            )
    for (guest_id, _), messages in zip(user.guests, user.messages, strict=True):
        conn.execute(
            "insert into public.message_deliveries (message_id, guest_id, phone_number, user_id)"
            " select m.id, %s, %s, %s from unnest(%s::uuid[]) as m (id)",
            (guest_id, user.phone, user.user_id, messages),
        )
    drain_sweeper(conn)


def drain_sweeper(conn: psycopg.Connection, max_passes: int = 100) -> None:
    """Where the variant has the sweeper, passes (each its own transaction) until its queue is empty."""
    if not conn.execute("select to_regproc('delivery_linkage.sweep_guest_link_queue') is not null").fetchone()[0]:
        return
    for _ in range(max_passes):
        if conn.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0] == 0:
            return
    raise RuntimeError(f"the sweeper's queue is not empty after {max_passes} passes")


def user_deletes(
    conns: Connections,
    plan: WritePlan,
    rounds: int,
    warmup: int,
    per_round: int,
    deliveries: int,
    events: int,
    tick: Tick,
    target: Target | None,
) -> tuple[Workload, list[Check]]:
    """DELETE of a user with `deliveries` deliveries in `events` events, one transaction each; the app's
    keys to users are ON DELETE SET NULL, so the deletion clears the user's guests and deliveries. Each
    user is built identically in every variant's copy, untimed, just before the deletions."""
    variants = list(conns)
    chosen = [a.event_id for a in plan.announcements][:events]
    workload = Workload(
        "user_deletes",
        f"user deletion ({deliveries:,} deliveries in {len(chosen)} events)",
        FLOOR,
        "no linkage",
        "delete",
        target,
        {v: [] for v in variants},
    )
    record = Recorder(workload, conns)
    doomed: list[DoomedUser] = []
    for r in range(warmup + rounds):
        for i in range(per_round):
            user = doomed_user(plan, len(doomed), chosen, deliveries)
            doomed.append(user)
            for conn in conns.values():
                build_doomed_user(conn, user)
            for v in rotate(variants, r + i):
                timed(record, v, DELETE_USER, (user.user_id,), measured=r >= warmup)
            tick(1)
    message_ids = [m for user in doomed for messages in user.messages for m in messages]
    rows = {v: deliveries_of(c, message_ids) for v, c in conns.items()}
    checks = [_compare("user deletions: same deliveries in every variant", rows, variants, FLOOR)]
    left = {v: sum(row[3] is not None for row in found) for v, found in rows.items()}
    checks.append(
        Check(
            "user deletions: every deleted user's delivery lost its user in every variant",
            len(rows[FLOOR]) == len(doomed) * deliveries and not any(left.values()),
            f"{len(rows[FLOOR]):,} deliveries of {len(doomed)} users; still linked: {left}",
        )
    )
    return workload, checks


def bulk_guest_link(
    conns: Connections, plan: WritePlan, size: int, rounds: int, tick: Tick, target: Target | None
) -> tuple[Workload, list[Check], int]:
    """One UPDATE linking `size` guests; the floor runs the hand-written set-based delivery UPDATE with it,
    the project's sweeper backfills after it (both timed: the link's whole work)."""
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
                    sweep(conn)
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
            with record(v) as conn:
                conn.execute(LINK_ONE_HAND_WRITTEN if v == FLOOR else LINK_ONE, (user_id, guest_id), prepare=True)
                if v != FLOOR:
                    sweep(conn)
        tick(1)
    return workload, link_checks("single guest links", conns, guests)


# --- audit storage: bytes per attempt ----------------------------------------------------------------

RELATIONS = """
select c.oid, n.nspname, c.relname, c.relkind, i.indrelid
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
left join pg_catalog.pg_index as i on i.indexrelid = c.oid
where c.relkind in ('r', 'p', 'm', 'i')
  and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and n.nspname !~ '^pg_(toast_)?temp_'
"""
TABLE_SIZES = """
select c.oid,
       pg_catalog.pg_relation_size(c.oid, 'main')
           + coalesce(pg_catalog.pg_relation_size(nullif(c.reltoastrelid, 0), 'main'), 0),
       pg_catalog.pg_indexes_size(c.oid) + coalesce(pg_catalog.pg_indexes_size(nullif(c.reltoastrelid, 0)), 0),
       pg_catalog.pg_total_relation_size(c.oid)
from pg_catalog.pg_class as c where c.oid = any(%s)
"""


@dataclass
class OwnRelations:
    """The relations a variant added to the app's database: found by name against the floor's copy."""

    tables: dict[int, str]  # oid -> qualified name (tables and materialized views, any schema)
    app_indexes: dict[int, str]  # indexes the variant added on tables the floor has too
    deliveries: int  # message_deliveries' oid
    deliveries_indexes: list[int]  # the app's own indexes of message_deliveries


def relation_names(conn: psycopg.Connection) -> set[tuple[str, str]]:
    return {(row[1], row[2]) for row in conn.execute(RELATIONS)}


def own_relations(
    conn: psycopg.Connection, floor: set[tuple[str, str]], exclude_schemas: tuple[str, ...]
) -> OwnRelations:
    rows = conn.execute(RELATIONS).fetchall()
    names = {oid: (schema, name) for oid, schema, name, _, _ in rows}
    tables, app_indexes, deliveries_indexes = {}, {}, []
    deliveries = conn.execute("select 'public.message_deliveries'::regclass::oid").fetchone()[0]
    for oid, schema, name, kind, table in rows:
        if schema in exclude_schemas:
            continue
        ours = (schema, name) not in floor
        if kind in ("r", "p", "m") and ours:
            tables[oid] = f"{schema}.{name}"
        elif kind == "i" and ours and names.get(table) in floor:
            app_indexes[oid] = f"{schema}.{name} on {'.'.join(names[table])}"
        elif kind == "i" and not ours and table == deliveries:
            deliveries_indexes.append(oid)
    return OwnRelations(tables, app_indexes, deliveries, deliveries_indexes)


def storage_snapshot(conn: psycopg.Connection, own: OwnRelations, vacuum: bool) -> dict:
    """Sizes in bytes. With vacuum, the variant's own tables are vacuumed first: VACUUM truncates the
    empty pages a relation extension may have added past the last row and moves a GIN index's pending
    list into the index, so what is measured is what the rows occupy. The app's table is not vacuumed
    (its growth is only shown for scale)."""
    if vacuum:
        for name in own.tables.values():
            schema, _, table = name.partition(".")
            conn.execute(sql.SQL("vacuum {}").format(sql.Identifier(schema, table)))
    tables = {
        oid: (t, i, total) for oid, t, i, total in conn.execute(TABLE_SIZES, (list(own.tables) + [own.deliveries],))
    }
    app_indexes = {
        oid: conn.execute("select pg_catalog.pg_relation_size(%s::oid)", (oid,)).fetchone()[0]
        for oid in own.app_indexes
    }
    deliveries_indexes = sum(
        conn.execute("select pg_catalog.pg_relation_size(%s::oid)", (oid,)).fetchone()[0]
        for oid in own.deliveries_indexes
    )
    return {"tables": tables, "app_indexes": app_indexes, "deliveries_indexes": deliveries_indexes}


def linked_guests(conn: psycopg.Connection, plan: WritePlan) -> list[tuple[list[uuid.UUID], list[str | None]]]:
    """Per announcement event: its active guests that are linked to a user (as the floor's copy has them)."""
    result = []
    for announcement in plan.announcements:
        linked = {
            row[0]
            for row in conn.execute(
                "select id from public.event_guests where id = any(%s) and user_id is not null and removed_at is null",
                (announcement.guest_ids,),
            )
        }
        pairs = [(g, p) for g, p in zip(announcement.guest_ids, announcement.phones, strict=True) if g in linked]
        result.append(([g for g, _ in pairs], [p for _, p in pairs]))
    return result


def audit_storage(
    conns: Connections,
    plan: WritePlan,
    attempts: int,
    tick: Tick,
    exclude_schemas: tuple[str, ...] = (),
    max_sends: int = 10_000,
) -> tuple[Workload, list[Check], list[StorageGrowth]]:
    """Sends to linked guests only (every delivery links; one attempt each) until at least `attempts`
    deliveries, one INSERT per message, alternately on every variant; timed like the announcement sends.
    Before and after, the sizes of each variant's own relations (vacuumed): growth / attempts = the
    audit's bytes per attempt."""
    variants = list(conns)
    sends = [
        (event, guests)
        for event, guests in zip(plan.announcements, linked_guests(conns[FLOOR], plan), strict=True)
        if guests[0]
    ]
    workload = Workload(
        "linked_sends",
        f"send to linked guests only (~{sum(len(g[0]) for _, g in sends) / max(1, len(sends)):.0f} rows, one INSERT)",
        FLOOR,
        "no linkage",
        "send",
        None,
        {v: [] for v in variants},
    )
    if not sends:
        return (
            workload,
            [Check("audit storage: sends to linked guests", False, "no linked guest in the sampled events")],
            [],
        )
    plan_sends: list[tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[str | None]]] = []
    total = 0
    while total < attempts and len(plan_sends) < max_sends:
        index = len(plan_sends)
        announcement, (guests, phones) = sends[index % len(sends)]
        plan_sends.append((plan.message_id("linked_send", index), announcement.event_id, guests, phones))
        total += len(guests)
    create_messages(conns, [(m, e) for m, e, _, _ in plan_sends])
    floor_names = relation_names(conns[FLOOR])
    own = {v: own_relations(c, floor_names, exclude_schemas) for v, c in conns.items()}
    before = {v: storage_snapshot(c, own[v], vacuum=True) for v, c in conns.items()}
    record = Recorder(workload, conns)
    for i, (message_id, _, guests, phones) in enumerate(plan_sends):
        for v in rotate(variants, i):
            timed(record, v, statement(v, "insert_many"), (message_id, guests, phones))
        tick(1)
    after = {v: storage_snapshot(c, own[v], vacuum=True) for v, c in conns.items()}

    message_ids = [m for m, _, _, _ in plan_sends]
    growths = []
    for v, conn in conns.items():
        b, a = before[v], after[v]

        def grew(oid: int, column: int, a: dict = a, b: dict = b) -> int:
            return a["tables"][oid][column] - b["tables"][oid][column]

        relations = {
            name: {"table_bytes": grew(oid, 0), "index_bytes": grew(oid, 1), "total_bytes": grew(oid, 2)}
            for oid, name in own[v].tables.items()
        } | {
            name: {"index_bytes": a["app_indexes"][oid] - b["app_indexes"][oid]}
            for oid, name in own[v].app_indexes.items()
        }
        audit_rows = None
        if v not in REFERENCES and v != FLOOR:
            audit_rows = conn.execute(
                """
                select count(*) from public.user_link_audit as a
                join public.message_deliveries as d on d.id = a.record_id
                where a.table_name = 'message_deliveries' and d.message_id = any(%s)
                """,
                (message_ids,),
            ).fetchone()[0]
        growths.append(
            StorageGrowth(
                variant=v,
                attempts=total,
                sends=len(plan_sends),
                table_bytes=sum(grew(oid, 0) for oid in own[v].tables),
                index_bytes=sum(grew(oid, 1) for oid in own[v].tables),
                total_bytes=sum(grew(oid, 2) for oid in own[v].tables),
                app_index_bytes=sum(a["app_indexes"][oid] - b["app_indexes"][oid] for oid in own[v].app_indexes),
                deliveries_table_bytes=grew(own[v].deliveries, 0),
                deliveries_index_bytes=a["deliveries_indexes"] - b["deliveries_indexes"],
                audit_rows=audit_rows,
                relations=relations,
                app_indexes=sorted(own[v].app_indexes.values()),
            )
        )
    checks = insert_checks("sends to linked guests", conns, message_ids)
    linking = [v for v in conns if v != FLOOR]
    unlinked = {
        v: conns[v]
        .execute(
            "select count(*) from public.message_deliveries where message_id = any(%s) and user_id is null",
            (message_ids,),
        )
        .fetchone()[0]
        for v in linking
    }
    checks.append(
        Check(
            "sends to linked guests: every delivery linked in every linking variant",
            not any(unlinked.values()),
            f"{total:,} deliveries each; left NULL: {unlinked}",
        )
    )
    for growth in growths:
        if growth.audit_rows is not None:
            checks.append(
                Check(
                    f"audit storage: {growth.variant} presents one audit row per attempt",
                    growth.audit_rows == total,
                    f"{growth.audit_rows:,} audit rows, {total:,} attempts",
                )
            )
    workload.extra["attempts"] = total
    workload.extra["sends"] = len(plan_sends)
    return workload, checks, growths
