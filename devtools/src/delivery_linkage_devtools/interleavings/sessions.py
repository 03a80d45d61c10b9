"""Runs one schedule on two sessions, as PostgreSQL's isolation tester runs a permutation.

Each step is sent asynchronously (libpq). The runner then waits until every step in flight has
either completed or is blocked: blocked means `pg_blocking_pids()` of its backend is not empty,
read from an observer connection (the isolation tester asks `pg_isolation_test_session_is_blocked`,
built on the same function). A blocked step is recorded as waiting, on whom and on which lock, and
the schedule goes on with the other session's steps. When the schedule names the next step of a
session that is still blocked, that step is owed: it runs as soon as the blocked one completes (the
app sends its next statement when the previous one returns), so the realized order can differ from
the scheduled one; the transcript shows it, as the isolation tester's `<waiting ...>` and
`<... completed>` lines do (`transcript_text` prints it as that tester does). After the last step
the runner waits for every blocked step to finish: the sessions' lock_timeout and the database's low
deadlock_timeout bound that wait.

A statement after an error in the same transaction is not sent (`aborted`); the transaction's end
step then rolls it back (`rolled back`).
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import pq

LOCK_TIMEOUT = "10s"  # far above any wait a schedule can cause; a step waiting this long is a finding
STATEMENT_TIMEOUT = "30s"
FIRST_WAIT = 0.003  # seconds a step may run before the observer asks whether it is blocked
FINAL_WAIT = 60.0  # seconds to wait for blocked steps after the schedule, before cancelling them

OK, ERROR, ABORTED, ROLLED_BACK = "ok", "error", "aborted", "rolled back"


@dataclass(frozen=True)
class RenderedStep:
    name: str  # "a_send"
    session: str
    sql: str
    kind: str  # begin | statement | commit | rollback
    own_transaction: bool = False


@dataclass
class StepOutcome:
    step: str
    status: str  # ok | error | aborted | rolled back
    sqlstate: str | None = None
    message: str | None = None
    waited: bool = False
    waited_on: str | None = None  # "b: transactionid ShareLock"

    def describe(self) -> str:
        text = self.status if self.status != ERROR else f"error {self.sqlstate}"
        if self.waited:
            text = f"waited ({self.waited_on}), then {text}"
        return text


@dataclass
class ScheduleResult:
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    # (step, event, detail): start (its SQL), waiting (on whom: which lock), completed (after waiting),
    # error (SQLSTATE: message), aborted, rolled back
    transcript: list[tuple[str, str, str]] = field(default_factory=list)


class Session:
    """One app connection, driven through libpq's asynchronous interface."""

    def __init__(self, name: str, conninfo: str, role: str | None):
        self.name = name
        self.conn = pq.PGconn.connect(conninfo.encode())
        if self.conn.status != pq.ConnStatus.OK:
            raise psycopg.OperationalError(self.conn.get_error_message().decode())
        self.conn.notice_handler = lambda result: None
        self.pid = self.conn.backend_pid
        self.refuse_a_pooler()
        setup = [
            f"set lock_timeout = '{LOCK_TIMEOUT}'",
            f"set statement_timeout = '{STATEMENT_TIMEOUT}'",
            f"set application_name = 'interleavings {name}'",
        ]
        if role:
            setup.append(f"set role {role}")
        self.execute("; ".join(setup))

    def refuse_a_pooler(self) -> None:
        """A session is one backend from its first step to its last, as in the isolation tester: through a
        transaction-mode pooler its steps would run on other backends (and its session settings be
        lost), so the checker refuses one, which it knows by the pid it was given at connection not
        being its backend's."""
        result = self.conn.exec_(b"select pg_catalog.pg_backend_pid()")
        server_pid = int(result.get_value(0, 0).decode())
        if server_pid != self.pid:
            self.conn.finish()
            raise RuntimeError(
                f"the interleaving checker needs direct connections, and this one goes through a pooler "
                f"(pid {self.pid} at connection, backend {server_pid}): point the libpq variables at the server"
            )

    def execute(self, sql: str) -> None:
        """Runs sql synchronously; raises on error."""
        result = self.conn.exec_(sql.encode())
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.DatabaseError(result.error_message.decode())

    def send(self, sql: str) -> None:
        self.conn.send_query(sql.encode())

    def ready(self) -> bool:
        self.conn.consume_input()
        return not self.conn.is_busy()

    def collect(self) -> tuple[str | None, str | None, str]:
        """(sqlstate, message, command status) of the statement just completed."""
        sqlstate = message = None
        command = ""
        while (result := self.conn.get_result()) is not None:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
                message = (result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
            elif result.command_status:
                command = result.command_status.decode()
        return sqlstate, message, command

    @property
    def in_transaction(self) -> bool:
        return self.conn.transaction_status != pq.TransactionStatus.IDLE

    @property
    def failed_transaction(self) -> bool:
        return self.conn.transaction_status == pq.TransactionStatus.INERROR

    def reset(self) -> None:
        """Back to idle whatever happened (a case must never leak a transaction into the next)."""
        if self.conn.transaction_status == pq.TransactionStatus.ACTIVE:
            self.conn.cancel_conn().cancel()
            while not self.ready():
                select.select([self.conn.socket], [], [], 0.05)
            self.collect()
        if self.in_transaction:
            self.execute("rollback")

    def close(self) -> None:
        self.conn.finish()


BLOCKED = """
    select waiting.pid, pg_blocking_pids(waiting.pid),
        (select string_agg(
            lock.locktype || ' ' || lock.mode
            || coalesce(' on ' || lock.relation::regclass::text, ''), ', ')
         from pg_locks as lock where lock.pid = waiting.pid and not lock.granted)
    from unnest(%s::integer[]) as waiting (pid)
"""


class ScheduleRunner:
    """Runs one schedule: `steps[session]` in order, interleaved as `schedule` says."""

    def __init__(
        self, sessions: dict[str, Session], observer: psycopg.Connection, steps: dict[str, list[RenderedStep]]
    ):
        self.sessions = sessions
        self.observer = observer
        self.steps = steps
        self.by_pid = {session.pid: name for name, session in sessions.items()}
        self.next_index = {name: 0 for name in sessions}
        self.owed = {name: 0 for name in sessions}
        self.active: dict[str, RenderedStep] = {}
        self.waiting: dict[str, str] = {}  # session → what its step in flight waits on now
        self.waited_on: dict[str, str] = {}  # session → what its step in flight has waited on
        self.result = ScheduleResult()

    def run(self, schedule: tuple[str, ...]) -> ScheduleResult:
        for session in schedule:
            if session in self.active:
                self.owed[session] += 1
                continue
            self.start(session)
            self.settle(final=False)
        self.settle(final=True)
        return self.result

    # --- steps ---------------------------------------------------------------------------------

    def start(self, session: str) -> None:
        step = self.steps[session][self.next_index[session]]
        self.next_index[session] += 1
        connection = self.sessions[session]
        if connection.failed_transaction and not step.own_transaction:
            if step.kind in ("commit", "rollback"):
                connection.execute("rollback")
                self.record(StepOutcome(step.name, ROLLED_BACK), step)
            else:
                self.record(StepOutcome(step.name, ABORTED), step)
            self.start_owed(session)
            return
        self.result.transcript.append((step.name, "start", step.sql))
        connection.send(step.sql)
        self.active[session] = step

    def start_owed(self, session: str) -> None:
        if self.owed[session] and session not in self.active:
            self.owed[session] -= 1
            self.start(session)

    def finish(self, session: str) -> None:
        step = self.active.pop(session)
        sqlstate, message, command = self.sessions[session].collect()
        self.waiting.pop(session, None)
        waited_on = self.waited_on.pop(session, None)
        if waited_on is not None:
            self.result.transcript.append((step.name, "completed", ""))
        if sqlstate:
            outcome = StepOutcome(step.name, ERROR, sqlstate, message)
            self.result.transcript.append((step.name, "error", f"{sqlstate}: {message}"))
        elif step.kind == "commit" and command == "ROLLBACK":
            outcome = StepOutcome(step.name, ROLLED_BACK)
        else:
            outcome = StepOutcome(step.name, OK)
        outcome.waited = waited_on is not None
        outcome.waited_on = waited_on
        self.record(outcome, step)
        self.start_owed(session)

    def record(self, outcome: StepOutcome, step: RenderedStep) -> None:
        if outcome.status in (ABORTED, ROLLED_BACK):
            self.result.transcript.append((step.name, outcome.status, ""))
        self.result.outcomes[step.name] = outcome

    # --- waiting -------------------------------------------------------------------------------

    def settle(self, final: bool) -> None:
        """Returns once every step in flight has completed or is blocked (final: completed)."""
        deadline = time.monotonic() + FINAL_WAIT
        while self.active:
            sockets = [self.sessions[name].conn.socket for name in self.active]
            all_blocked = set(self.active) <= set(self.waiting)
            select.select(sockets, [], [], 0.05 if all_blocked else FIRST_WAIT)
            for name in list(self.active):
                if self.sessions[name].ready():
                    self.finish(name)
            if not self.active:
                return
            blocked = self.blocked()
            for name in list(self.waiting):
                if name in self.active and name not in blocked:
                    del self.waiting[name]  # woken up: running again
            for name, on in blocked.items():
                if name not in self.waiting:
                    self.waiting[name] = on
                    if name not in self.waited_on:
                        self.waited_on[name] = on
                        self.result.transcript.append((self.active[name].name, "waiting", on))
                    elif on not in self.waited_on[name].split("; "):
                        self.waited_on[name] += f"; {on}"
            if set(self.active) <= set(blocked):
                if not final:
                    return
                if time.monotonic() > deadline:
                    for name in list(self.active):
                        self.sessions[name].conn.cancel_conn().cancel()
                    deadline = time.monotonic() + FINAL_WAIT

    def blocked(self) -> dict[str, str]:
        """Sessions whose step in flight is blocked → 'on whom: which lock'."""
        pids = [self.sessions[name].pid for name in self.active]
        blocked = {}
        for pid, blockers, lock in self.observer.execute(BLOCKED, (pids,)).fetchall():
            if blockers:
                who = ", ".join(self.by_pid.get(blocker, f"pid {blocker} (not a session)") for blocker in blockers)
                blocked[self.by_pid[pid]] = f"{who}: {lock}" if lock else who
        return blocked


def transcript_text(transcript: list[tuple[str, str, str]], names: dict[str, str] | None = None) -> str:
    """As the isolation tester prints a permutation's run; `names` (id → role) writes the world's ids as
    psql variables named after their role (`:'guest_linked'`)."""
    lines = []
    for step, event, detail in transcript:
        if event == "start":
            for value, name in (names or {}).items():
                detail = detail.replace(f"'{value}'", f":'{name}'")
            lines.append(f"step {step}: {detail};")
        elif event == "waiting":
            if lines and lines[-1].startswith(f"step {step}: ") and lines[-1].endswith(";"):
                lines[-1] += f" <waiting on {detail}>"
            else:
                lines.append(f"step {step}: <waiting on {detail}>")
        elif event == "completed":
            lines.append(f"step {step}: <... completed>")
        elif event == "error":
            lines.append(f"ERROR:  {detail}")
        else:
            lines.append(f"step {step}: <{event}>")
    return "\n".join(lines)
