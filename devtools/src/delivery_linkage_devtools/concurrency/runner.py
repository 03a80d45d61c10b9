"""Runs a plan: one thread and one connection per planned connection, plus a lock-wait sampler, a
linkable-but-NULL sampler and, in the linkage run, the sweeper (sweeping.py).

Each operation is one app transaction at its planned isolation level. Serialization failures
(40001) and deadlocks (40P01) are retried as an app would (rollback, short random back-off, again,
up to `max_attempts`), and counted; any other error is what the app would show its user: counted
by SQLSTATE and isolation level, not retried. Every operation's latency (first BEGIN to the COMMIT
that succeeded, retries included) is kept.

Lock waits are measured from the server: a separate connection samples `pg_locks` every
`sample_interval` seconds for the workers' backends. A lock request not granted has a `waitstart`
(PostgreSQL 14+), so one wait is the pair (pid, waitstart) and its duration is the last time it was
seen waiting minus `waitstart`: exact to within one sampling interval, and waits shorter than an
interval may go unseen (the same for every run). Each wait is attributed to the operation its
worker was running (kind and isolation level). The share of sampled worker-time spent waiting on
a lock is reported too.

An operation that returns ROLLBACK ends its transaction with ROLLBACK (a user deletion the app
takes back).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg

from delivery_linkage.database import connection
from delivery_linkage.database.connection import ConnectionSettings
from delivery_linkage_devtools.concurrency import sweeping
from delivery_linkage_devtools.concurrency.plan import Operation

RETRIED = {"40001": "serialization_failure", "40P01": "deadlock_detected"}
ROLLBACK = "rollback"  # what an operation returns to end its transaction with ROLLBACK instead of COMMIT


@dataclass
class OperationResult:
    kind: str
    isolation: str
    seconds: float
    retries: tuple[str, ...]  # SQLSTATEs of the attempts retried
    error: str | None  # SQLSTATE of the error the app saw, "gave_up" after max_attempts
    started: float = 0.0  # time.perf_counter() at its first BEGIN: which operations overlapped


@dataclass
class WorkerOutcome:
    index: int
    results: list[OperationResult] = field(default_factory=list)
    app_links: list[tuple] = field(default_factory=list)  # (message_id, guest_id, user_id) the app wrote
    linkage_warnings: Counter = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    # where the retried errors came from: operation, message, PostgreSQL's reason, the innermost function
    retry_sources: Counter = field(default_factory=Counter)


# --- the app's statements ----------------------------------------------------------------------------

SEND = "insert into public.message_deliveries (message_id, guest_id, phone_number) values (%s, %s, %s)"
NEW_MESSAGE = "insert into public.messages (id, event_id, body, message_type) values (%s, %s, %s, %s)"
UPSERT = """
    insert into public.message_deliveries (message_id, guest_id, phone_number, user_id, sms_status)
    values (%s, %s, %s, %s, %s)
    on conflict (message_id, guest_id) do update set
        sms_status = case when excluded.sms_status <> 'pending' then excluded.sms_status
                          else message_deliveries.sms_status end,
        phone_number = coalesce(excluded.phone_number, message_deliveries.phone_number),
        user_id = {user_id},
        updated_at = now()
"""
UPSERT_USER = {
    "excluded": "excluded.user_id",  # the project's fixture RPC
    "coalesce": "coalesce(excluded.user_id, message_deliveries.user_id)",  # the app's own RPC
}


def op_announcement(conn, message, event):
    conn.execute(NEW_MESSAGE, (message, event, "Announcement", "announcement"))
    conn.execute(
        "insert into public.message_deliveries (message_id, guest_id, phone_number) "
        "select %s, g.id, g.phone from public.event_guests as g where g.event_id = %s and g.removed_at is null",
        (message, event),
    )


def op_send_one(conn, message, event, guest, phone):
    conn.execute(NEW_MESSAGE, (message, event, "Hello", "direct"))
    conn.execute(SEND, (message, guest, phone))


def op_send_several(conn, message, event, recipients):
    conn.execute(NEW_MESSAGE, (message, event, "Hello all", "direct"))
    for guest, phone in recipients:
        conn.execute(SEND, (message, guest, phone))


def op_send_phone_only(conn, message, event, phone):
    conn.execute(NEW_MESSAGE, (message, event, "Hello", "direct"))
    conn.execute(SEND, (message, None, phone))


def op_edit_then_send(conn, guest, name, message, event, phone):
    conn.execute("update public.event_guests set guest_name = %s where id = %s", (name, guest))
    op_send_one(conn, message, event, guest, phone)


def op_upsert(conn, message, guest, phone, app_user, style, status):
    user = None
    if app_user:  # the app reads the guest's user and passes it
        row = conn.execute(
            "select user_id from public.event_guests where id = %s and removed_at is null", (guest,)
        ).fetchone()
        user = row[0] if row else None
    conn.execute(UPSERT.format(user_id=UPSERT_USER[style]), (message, guest, phone, user, status))
    return [(message, guest, user)] if user is not None else []


def op_status_update(conn, message, guest, status, provider_sid):
    conn.execute(
        "update public.message_deliveries set sms_status = %s, provider_sid = %s "
        "where message_id = %s and guest_id = %s",
        (status, provider_sid, message, guest),
    )


def op_read_messages(conn, guest):
    conn.execute(
        "select id, sms_status from public.message_deliveries where guest_id = %s order by created_at desc limit 20",
        (guest,),
    ).fetchall()


def op_link(conn, guest, user):
    conn.execute("update public.event_guests set user_id = %s where id = %s", (user, guest))


def op_signup_link(conn, user, guest):
    conn.execute(
        "insert into public.users (id, phone) select %s, g.phone from public.event_guests as g where g.id = %s",
        (user, guest),
    )
    conn.execute("update public.event_guests set user_id = %s where id = %s and user_id is null", (user, guest))


def op_unlink(conn, guest):
    conn.execute("update public.event_guests set user_id = null where id = %s and user_id is not null", (guest,))


def op_relink(conn, guest, user):
    conn.execute("update public.event_guests set user_id = %s where id = %s and user_id is not null", (user, guest))


def op_remove(conn, guest):
    conn.execute("update public.event_guests set removed_at = now() where id = %s and removed_at is null", (guest,))


def op_restore(conn, guest):
    conn.execute("update public.event_guests set removed_at = null where id = %s and removed_at is not null", (guest,))


def op_bulk_link(conn, guests, users):
    conn.execute(
        "update public.event_guests as g set user_id = t.user_id "
        "from unnest(%s::uuid[], %s::uuid[]) as t (guest_id, user_id) where g.id = t.guest_id",
        (list(guests), list(users)),
    )


def op_phone_edit(conn, guest, phone):
    conn.execute("update public.event_guests set phone = %s where id = %s", (phone, guest))


def op_name_edit(conn, guest, name):
    conn.execute("update public.event_guests set guest_name = %s where id = %s", (name, guest))


def op_flag_flip(conn, flag_name):
    conn.execute("update public.feature_flags set enabled = not enabled where flag_name = %s", (flag_name,))


def op_linking_off(conn):
    conn.execute("update public.feature_flags set enabled = false where flag_name = 'LINK_USER_BY_PHONE'")


def op_linking_on(conn):
    conn.execute("update public.feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE'")


def op_delete_user(conn, user):
    conn.execute("delete from public.users where id = %s", (user,))


def op_lock_user(conn, user, name, hold_seconds):
    conn.execute("select 1 from public.users where id = %s for update", (user,)).fetchall()
    conn.execute("select pg_sleep(%s)", (hold_seconds,))
    conn.execute("update public.users set display_name = %s where id = %s", (name, user))


def op_email_edit(conn, user, email):
    conn.execute("update public.users set email = %s where id = %s", (email, user))


def op_delete_user_rolled_back(conn, user):
    conn.execute("delete from public.users where id = %s", (user,))
    return ROLLBACK


OPERATIONS = {name.removeprefix("op_"): function for name, function in globals().items() if name.startswith("op_")}
OPERATIONS["upsert_again"] = op_upsert  # the same RPC, for a (message, guest) already upserted


# --- workers -----------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    lock_timeout: str = "2s"
    statement_timeout: str = "60s"
    deadlock_timeout: str | None = None  # None: the server's
    max_attempts: int = 50
    sample_interval: float = 0.01
    sweep_interval: float = 1.0  # the sweeper's, in the linkage run (`linkage sweep`'s default)
    linkable_interval: float = 0.5  # the linkable-but-NULL sampler's, in every run

    def begin(self, isolation: str) -> str:
        """An app transaction's first round trip: BEGIN and the run's timeouts as `SET LOCAL`. Not the
        `options` startup parameter, which a transaction-mode pooler refuses (PgBouncer: "unsupported
        startup parameter"), nor a session `SET`, which it would carry to other clients' transactions."""
        timeouts = {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}
        if self.deadlock_timeout:
            timeouts["deadlock_timeout"] = self.deadlock_timeout
        settings = "".join(f"; set local {name} = '{value}'" for name, value in timeouts.items())
        return f"begin isolation level {isolation}{settings}"


class Worker(threading.Thread):
    def __init__(
        self,
        index: int,
        settings: ConnectionSettings,
        operations: list[Operation],
        run: RunSettings,
        start: threading.Barrier,
    ):
        super().__init__(name=f"concurrency-worker-{index}", daemon=True)
        self.settings, self.operations, self.run_settings, self.start_barrier = settings, operations, run, start
        self.outcome = WorkerOutcome(index)
        self.backoff = random.Random(index)  # back-off only: never changes what the plan does
        self.conn: psycopg.Connection | None = None
        self.failure: BaseException | None = None
        self.current: Operation | None = None  # what the connection is doing (read by the lock-wait sampler)

    def connect(self) -> psycopg.Connection:
        conn = connection.connect(self.settings, application_name=self.application_name)
        conn.add_notice_handler(self.notice)
        return conn

    @property
    def application_name(self) -> str:
        """How the lock-wait sampler finds this worker's backend: through a transaction-mode pooler the
        backend changes from one transaction to the next and `backend_pid` is the pooler's own key, but
        the pooler sets each client's application_name on the backend it lends it."""
        return f"concurrency_bench_{self.outcome.index}"

    def notice(self, diagnostic) -> None:
        if diagnostic.severity_nonlocalized == "WARNING" and "delivery_linkage" in (diagnostic.message_primary or ""):
            self.outcome.linkage_warnings[diagnostic.message_primary[:120]] += 1

    def run(self) -> None:
        try:
            self.conn = self.connect()
            # the run's settings, tried once before the start: a role that may not set one of them
            # (deadlock_timeout needs a superuser) stops the run here, not every operation
            self.conn.execute(self.run_settings.begin("read committed"))
            self.conn.execute("rollback")
        except BaseException as error:  # reported by the orchestrator
            self.failure = error
            self.start_barrier.abort()
            return
        try:
            self.start_barrier.wait()
            for operation in self.operations:
                self.outcome.results.append(self.perform(operation))
        except BaseException as error:
            self.failure = error
        finally:
            self.conn.close()

    def rollback(self) -> None:
        conn = self.conn
        if conn.closed:
            self.conn = self.connect()
        elif conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("rollback")

    def perform(self, operation: Operation) -> OperationResult:
        function = OPERATIONS[operation.kind]
        retries: list[str] = []
        started = time.perf_counter()
        for attempt in range(self.run_settings.max_attempts):
            try:
                self.current = operation
                self.conn.execute(self.run_settings.begin(operation.isolation))
                app_links = function(self.conn, *operation.params)
                if app_links == ROLLBACK:
                    self.conn.execute("rollback")
                    app_links = None
                else:
                    self.conn.execute("commit")
            except psycopg.Error as error:
                state = error.sqlstate or type(error).__name__
                self.rollback()
                if state in RETRIED:
                    retries.append(state)
                    self.outcome.retry_sources[retry_source(operation.kind, error)] += 1
                    time.sleep(self.backoff.random() * 0.002 * min(attempt + 1, 10))
                    continue
                self.outcome.error_examples.setdefault(state, f"{operation.kind}: {str(error).strip()[:300]}")
                return OperationResult(
                    operation.kind, operation.isolation, time.perf_counter() - started, tuple(retries), state, started
                )
            if app_links:
                self.outcome.app_links.extend(app_links)
            return OperationResult(
                operation.kind, operation.isolation, time.perf_counter() - started, tuple(retries), None, started
            )
        self.outcome.error_examples.setdefault(
            "gave_up", f"{operation.kind} at {operation.isolation}: {self.run_settings.max_attempts} attempts failed"
        )
        return OperationResult(
            operation.kind, operation.isolation, time.perf_counter() - started, tuple(retries), "gave_up", started
        )


def retry_source(kind: str, error: psycopg.Error) -> str:
    diag = error.diag
    context = (diag.context or "").strip().splitlines()
    where = next((line.strip() for line in context if "function" in line), context[-1].strip() if context else "")
    detail = (diag.message_detail or "").split(",")[0]
    return f"{kind} | {diag.message_primary} | {detail} | {where}"


# --- lock waits -------------------------------------------------------------------------------------

SAMPLE_LOCK_WAITS = """
    select l.pid, a.application_name, l.waitstart, l.locktype, coalesce(c.relname::text, ''), l.mode,
           clock_timestamp(),
           array(select coalesce(nullif(b.application_name, ''), 'other')
                 from pg_catalog.pg_stat_activity as b
                 where b.pid = any(pg_catalog.pg_blocking_pids(l.pid)))
    from pg_catalog.pg_locks as l
    join pg_catalog.pg_stat_activity as a on a.pid = l.pid
    left join pg_catalog.pg_class as c on c.oid = l.relation
    where not l.granted and a.application_name = any(%s)
"""


class LockWaitSampler(threading.Thread):
    """Samples the workers' ungranted locks; each wait is attributed to the operation (kind, isolation
    level) its worker was running when the wait was first seen, and to what it waited behind then
    (`pg_blocking_pids`): the operation another worker was running, or a backend of the harness by its
    application_name (the sweeper), or `other`. Backends are told apart by application_name, not pid,
    so that the sampler sees through a transaction-mode pooler too (Worker.application_name)."""

    def __init__(self, settings: ConnectionSettings, workers: list[Worker], interval: float):
        super().__init__(name="concurrency-lock-sampler", daemon=True)
        self.settings, self.interval = settings, interval
        self.workers = {w.application_name: w for w in workers}
        self.stop = threading.Event()
        # (pid, waitstart) -> [locktype, relation, mode, waitstart, last_seen, kind, isolation, behind]
        self.waits: dict[tuple, list] = {}
        self.samples = 0
        self.waiting_backend_samples = 0

    def run(self) -> None:
        with connection.connect(self.settings, application_name="concurrency_bench_sampler") as conn:
            while not self.stop.wait(self.interval):
                rows = conn.execute(SAMPLE_LOCK_WAITS, (list(self.workers),)).fetchall()
                self.samples += 1
                self.waiting_backend_samples += len({row[0] for row in rows})
                for pid, name, waitstart, locktype, relation, mode, now, blockers in rows:
                    if waitstart is None:
                        continue
                    key = (pid, waitstart)
                    wait = self.waits.get(key)
                    if wait is None:
                        current = self.workers[name].current
                        kind, isolation = (current.kind, current.isolation) if current else ("", "")
                        behind = self.behind(blockers)
                        self.waits[key] = [locktype, relation, mode, waitstart, now, kind, isolation, behind]
                    else:
                        wait[4] = max(wait[4], now)

    def behind(self, blockers: list[str]) -> str:
        """What a wait is behind: each blocking backend (by application_name) as the operation its
        worker runs now, or the harness backend's name (concurrency_bench_sweeper: `sweeper`), or `other`."""
        names = set()
        for name in blockers:
            worker = self.workers.get(name)
            if worker is not None:
                names.add(worker.current.kind if worker.current else "worker between operations")
            else:
                names.add(name.removeprefix("concurrency_bench_"))
        return " + ".join(sorted(names)) or "nothing seen"

    def durations(self) -> list[LockWait]:
        """Every wait seen, with its duration."""
        return [LockWait(w[0], w[1], (w[4] - w[3]).total_seconds(), w[5], w[6], w[7]) for w in self.waits.values()]


@dataclass(frozen=True)
class LockWait:
    locktype: str
    relation: str  # '' for a lock on no relation (transactionid, tuple's relation is named)
    seconds: float
    kind: str  # the operation its worker was running
    isolation: str
    behind: str = ""  # what it waited behind when first seen (LockWaitSampler.behind)

    @property
    def lock(self) -> str:
        return f"{self.locktype}{':' + self.relation if self.relation else ''}"


@dataclass
class RunOutcome:
    workers: list[WorkerOutcome]
    seconds: float
    lock_waits: list[LockWait]
    lock_samples: int
    waiting_backend_samples: int
    backends: int
    linkable_null: dict = field(default_factory=dict)  # LinkableNullSampler.figures()
    sweeper: dict | None = None  # Sweeper.figures(), when the run had one


def execute(
    settings: ConnectionSettings,
    plans: list[list[Operation]],
    run: RunSettings,
    progress=None,
    sweep: bool = False,
) -> RunOutcome:
    """Runs every connection's plan at once; returns when all are done (quiescence). With `sweep`, a
    sweeper runs beside the workers every run.sweep_interval seconds and, once they are done, until
    the queue is empty. The linkable-but-NULL sampler runs throughout, and takes its last sample then."""
    start = threading.Barrier(len(plans) + 1)
    workers = [Worker(index, settings, operations, run, start) for index, operations in enumerate(plans)]
    for worker in workers:
        worker.start()
    try:
        start.wait(timeout=120)
    except threading.BrokenBarrierError:
        failures = [w.failure for w in workers if w.failure]
        raise RuntimeError(f"workers could not start: {failures[:1]}") from (failures[0] if failures else None)
    sampler = LockWaitSampler(settings, workers, run.sample_interval)
    sampler.start()
    linkable = sweeping.LinkableNullSampler(settings, run.linkable_interval)
    linkable.start()
    sweeper = sweeping.Sweeper(settings, run.sweep_interval) if sweep else None
    if sweeper:
        sweeper.start()
    started = time.perf_counter()
    total = sum(len(p) for p in plans)
    while any(w.is_alive() for w in workers):
        time.sleep(0.25)
        if progress:
            progress(sum(len(w.outcome.results) for w in workers), total)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join(30)
    if sweeper:
        sweeper.stop.set()
        sweeper.join(120)
        sweeper.drain()
    linkable.stop.set()
    linkable.join(120)
    failures = [w.failure for w in workers if w.failure]
    if failures:
        raise RuntimeError(f"a worker failed: {failures[0]!r}") from failures[0]
    return RunOutcome(
        workers=[w.outcome for w in workers],
        seconds=seconds,
        lock_waits=sampler.durations(),
        lock_samples=sampler.samples,
        waiting_backend_samples=sampler.waiting_backend_samples,
        backends=len(workers),
        linkable_null=linkable.figures(),
        sweeper=sweeper.figures() if sweeper else None,
    )
