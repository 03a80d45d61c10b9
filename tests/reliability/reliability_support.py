"""Shared pieces of the reliability suite: the figures it reports, app connections, writers under load.
The invariants it checks are delivery_linkage_devtools.testing.invariants."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import psycopg

# figures collected by the tests and printed at the end of the session (see conftest.py)
_lock = threading.Lock()
FIGURES: Counter = Counter()
MAXIMA: dict[str, float] = {}

def vocabulary(conn, kind: str) -> set[str]:
    """The audit vocabulary's values of one kind (table_name, outcome, reason): the one list, deployed."""
    return {
        row[0]
        for row in conn.execute("select value from delivery_linkage.audit_vocabulary() where kind = %s", (kind,))
    }

# errors an app retries; the concurrency test retries both but fails on any deadlock, and on any
# serialization failure at READ COMMITTED
RETRIED = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


def add(name: str, amount: float = 1) -> None:
    with _lock:
        FIGURES[name] += amount


def record_max(name: str, value: float) -> None:
    with _lock:
        MAXIMA[name] = max(MAXIMA.get(name, float("-inf")), value)


def app_connection(
    settings, lock_timeout="5s", statement_timeout="30s", deadlock_timeout="100ms", extra_options="", **kwargs
):
    """An autocommit connection bounded by timeouts, so no worker can hang forever."""
    options = f"-c lock_timeout={lock_timeout} -c statement_timeout={statement_timeout}"
    if deadlock_timeout:
        options += f" -c deadlock_timeout={deadlock_timeout}"
    options = f"{options} {extra_options}".strip()
    return psycopg.connect(settings.conninfo(), autocommit=True, options=options, **kwargs)


class WarningCollector:
    """Collects the linkage's WARNINGs (an error it swallowed so the app's write would not fail)."""

    def __init__(self):
        self.messages: list[str] = []

    def __call__(self, diagnostic) -> None:
        if diagnostic.severity_nonlocalized == "WARNING" and "delivery_linkage" in (diagnostic.message_primary or ""):
            self.messages.append(diagnostic.message_primary)

    def attach(self, conn):
        conn.add_notice_handler(self)
        return conn


class Writer(threading.Thread):
    """Inserts deliveries continuously (a send to a whole event, or one row) and, given users, links and
    unlinks guests now and then; times each statement."""

    def __init__(self, settings, events, stop, seed, users=()):
        super().__init__(daemon=True)
        self.settings, self.events, self.stop, self.rng = settings, events, stop, random.Random(seed)
        self.users = list(users)
        self.timings: list[tuple[float, float]] = []
        self.errors: list[str] = []

    def run(self):
        with app_connection(self.settings, statement_timeout="60s", lock_timeout="60s") as conn:
            while not self.stop.is_set():
                event, guests = self.rng.choice(self.events)
                started = time.perf_counter()
                try:
                    roll = self.rng.random()
                    if self.users and roll < 0.2:
                        conn.execute(
                            "update event_guests set user_id = case when user_id is null then %s::uuid end "
                            "where id = %s",
                            (self.rng.choice(self.users), self.rng.choice(guests)),
                        )
                    elif roll < 0.6:
                        conn.execute(
                            "with m as (insert into messages (event_id) values (%s) returning id) "
                            "insert into message_deliveries (message_id, guest_id, phone_number) "
                            "select m.id, g.id, g.phone from m, event_guests g where g.event_id = %s",
                            (event, event),
                        )
                    else:
                        conn.execute(
                            "with m as (insert into messages (event_id) values (%s) returning id) "
                            "insert into message_deliveries (message_id, guest_id, phone_number) "
                            "select m.id, %s, null from m",
                            (event, self.rng.choice(guests)),
                        )
                except psycopg.Error as error:
                    # the error and its detail (who waited for whom), without the statement's context
                    self.errors.append(f"{type(error).__name__}: " + " / ".join(str(error).splitlines()[:3]))
                self.timings.append((started, time.perf_counter()))
                time.sleep(0.005)


def worst_stall(writers, window):
    """The longest writer statement that overlapped the window, and how many did."""
    started, ended = window
    overlapping = [end - start for wr in writers for start, end in wr.timings if start < ended and end > started]
    return max(overlapping, default=0.0), len(overlapping)
