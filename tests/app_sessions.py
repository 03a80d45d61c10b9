"""Several app sessions in one test: connections with short timeouts, a statement run in the
background, and waiting until a session is blocked on a lock."""

from __future__ import annotations

import threading
import time

import psycopg

LEVELS = ("read committed", "repeatable read", "serializable")
LEVEL_IDS = {"read committed": "rc", "repeatable read": "rr", "serializable": "ser"}


def session(settings, lock_timeout="5s", deadlock_timeout="100ms", statement_timeout="30s") -> psycopg.Connection:
    """An autocommit app connection; transactions are opened explicitly with begin()."""
    options = (
        f"-c lock_timeout={lock_timeout} -c deadlock_timeout={deadlock_timeout} "
        f"-c statement_timeout={statement_timeout}"
    )
    return psycopg.connect(settings.conninfo(), autocommit=True, options=options)


def begin(conn: psycopg.Connection, isolation: str) -> None:
    conn.execute(f"begin isolation level {isolation}")


def rollback(conn: psycopg.Connection) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("rollback")


class Background(threading.Thread):
    """Runs one call in a thread; result() returns its value or raises its error."""

    def __init__(self, function, *args):
        super().__init__(daemon=True)
        self.function, self.args = function, args
        self.value, self.error = None, None

    def run(self):
        try:
            self.value = self.function(*self.args)
        except BaseException as error:  # re-raised by result()
            self.error = error

    def result(self, timeout: float = 30):
        self.join(timeout)
        assert not self.is_alive(), "the background statement never finished"
        if self.error is not None:
            raise self.error
        return self.value


def start(function, *args) -> Background:
    thread = Background(function, *args)
    thread.start()
    return thread


def wait_until_blocked_or_done(
    observer: psycopg.Connection, pid: int, thread: Background, timeout: float = 1.0
) -> bool:
    """Waits until the session `pid` waits on a lock or the thread is done; True when it is blocked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return False
        if observer.execute("select exists (select 1 from pg_locks where pid = %s and not granted)", (pid,)).fetchone()[
            0
        ]:
            return True
        time.sleep(0.01)
    return False
