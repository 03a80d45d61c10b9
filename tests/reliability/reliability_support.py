"""Shared pieces of the reliability suite: the figures it reports, app connections, world checks."""

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


def linkable_null(conn) -> int:
    """Deliveries that name an active, linked guest and still have no user: what must never be left."""
    return conn.execute(
        """
        select count(*) from message_deliveries d
        join event_guests g on g.id = d.guest_id
        where d.user_id is null and g.user_id is not null and g.removed_at is null
        """
    ).fetchone()[0]


def audit_disagreements(conn, app_set=(), exempt=()) -> list[tuple]:
    """Deliveries whose audit does not tell their story: a linked delivery needs exactly one 'linked' row
    naming its user, an unlinked one none. `app_set`: deliveries whose user came from the app (not
    attempts: no audit row of any kind); `exempt`: deliveries not checked."""
    return conn.execute(
        """
        with audit as (
            select record_id,
                   count(*) filter (where outcome = 'linked') as linked_rows,
                   count(*) as all_rows,
                   array_agg(linked_user_id) filter (where outcome = 'linked') as users
            from user_link_audit group by record_id
        )
        select d.id, d.user_id, a.linked_rows, a.all_rows, a.users
        from message_deliveries d
        left join audit a on a.record_id = d.id
        where not (d.id = any(%s::uuid[])) and case
            when d.id = any(%s::uuid[]) then a.all_rows is not null
            when d.user_id is null then coalesce(a.linked_rows, 0) <> 0
            else a.linked_rows is distinct from 1 or a.users[1] is distinct from d.user_id
        end
        """,
        (list(exempt), list(app_set)),
    ).fetchall()


def unaudited_attempts(conn, app_set=()) -> int:
    """Deliveries the linkage never audited (every insert with no user from the app is an attempt)."""
    return conn.execute(
        """
        select count(*) from message_deliveries d
        where not (d.id = any(%s::uuid[]))
          and not exists (
            select 1 from user_link_audit a where a.record_id = d.id and a.table_name = 'message_deliveries'
          )
        """,
        (list(app_set),),
    ).fetchone()[0]


def latest_audit_disagreements(conn, delivery_ids) -> list[tuple]:
    """Among delivery_ids: deliveries whose latest audit row does not name their current user (a linked
    delivery's latest row is 'linked' with its user; an unlinked one's latest row is not 'linked').
    Latest in the order the rows were written: the audit group's number, then the row in it. (created_at
    is the writing transaction's start, so a transaction that began earlier but wrote later, after
    waiting for the delivery's row lock, would sort first; writes to one delivery are serialized by
    that row lock, and the group numbers are drawn while it is held.)"""
    return conn.execute(
        """
        select d.id, d.user_id, latest.outcome, latest.linked_user_id
        from message_deliveries d
        left join lateral (
            select a.outcome, a.linked_user_id from user_link_audit a
            where a.record_id = d.id and a.audit_source = 'linkage'
            order by split_part(a.id, '.', 1)::bigint desc, split_part(a.id, '.', 2)::integer desc
            limit 1
        ) as latest on true
        where d.id = any(%s::uuid[])
          and case when d.user_id is null then latest.outcome is not distinct from 'linked'
                   else latest.outcome is distinct from 'linked' or latest.linked_user_id is distinct from d.user_id end
        """,
        (list(delivery_ids),),
    ).fetchall()


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
