"""The sweeper during a run, and the sampler that times how long deliveries stay linkable but NULL.

`Sweeper`: a thread calling the sweeper every `interval` seconds (1 s, as `linkage sweep` does by
default), each pass in a transaction of its own, through the same function `linkage sweep` uses
(delivery_linkage.operations.sweep.sweep_once); `drain` runs it at quiescence until the queue is
empty, before the invariants are checked.

`LinkableNullSampler`: a connection that looks, every `interval` seconds, for every delivery that is
linkable but NULL at that moment (its guest active, linked, of the message's event; the rule the
invariant checker and the linkage use) and records, from the server's clock, each unbroken stretch
of consecutive samples that saw it (a delivery linked and left NULL again later starts a new one). It
knows nothing of the queue or the sweeper: it sees what a reader of the table would see. How long a
delivery stayed linkable but NULL, in its longest stretch, is at least last − first seen in it and at
most that plus two sampling periods (it may have become so up to a period before it was first seen, and
been linked up to a period after it was last seen); the report gives both, and judges the bound.
Deliveries the linkage audited `skipped / feature_disabled` (linking was off) stay NULL by design:
they are counted apart and left out of the longest time.
It runs in every run of the benchmark alike (its load is the same), the sweeper in the linkage run
only (its load is the linkage's).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

import psycopg

from delivery_linkage.database import connection
from delivery_linkage.database.connection import ConnectionSettings
from delivery_linkage.operations import sweep
from delivery_linkage_devtools.testing import invariants

# the linkable-but-NULL deliveries now (delivery_linkage_devtools.testing.invariants), at most %s
LINKABLE_NULL_NOW = f"""
    select d.id, pg_catalog.clock_timestamp()
    {invariants.LINKABLE_NULL_FROM}
    where {invariants.LINKABLE_NULL_WHERE}
    limit %s
"""


class Sweeper(threading.Thread):
    """Calls the sweeper every `interval` seconds until stopped; counts passes, their time and errors."""

    def __init__(self, settings: ConnectionSettings, interval: float = 1.0):
        super().__init__(name="concurrency-sweeper", daemon=True)
        self.settings, self.interval = settings, interval
        self.stop = threading.Event()
        self.passes: list[tuple[float, int]] = []  # (seconds, entries left)
        self.errors: Counter = Counter()  # SQLSTATE of a failed pass
        self.error_examples: dict[str, str] = {}
        self.drain_passes = 0
        self.drain_seconds = 0.0
        self.left_after_drain: int | None = None

    def connect(self) -> psycopg.Connection:
        return connection.connect(self.settings, application_name="concurrency_bench_sweeper")

    def one_pass(self, conn: psycopg.Connection) -> int | None:
        try:
            result = sweep.sweep_once(conn)
        except psycopg.Error as error:
            state = error.sqlstate or type(error).__name__
            self.errors[state] += 1
            self.error_examples.setdefault(state, str(error).strip()[:300])
            return None
        self.passes.append((result.seconds, result.left))
        return result.left

    def run(self) -> None:
        with self.connect() as conn:
            while not self.stop.is_set():
                self.one_pass(conn)
                self.stop.wait(self.interval)

    def drain(self, max_seconds: float = 300.0, pause: float = 0.05) -> int:
        """At quiescence: passes until the queue is empty (or max_seconds). Returns the entries left."""
        started = time.perf_counter()
        left = None
        with self.connect() as conn:
            while time.perf_counter() - started < max_seconds:
                left = self.one_pass(conn)
                self.drain_passes += 1
                if left == 0:
                    break
                time.sleep(pause)
        self.drain_seconds = time.perf_counter() - started
        self.left_after_drain = left
        return left if left is not None else -1

    def figures(self) -> dict:
        seconds = [s for s, _ in self.passes]
        return {
            "interval_s": self.interval,
            "passes": len(self.passes),
            "longest_pass_ms": 1000 * max(seconds) if seconds else None,
            "mean_pass_ms": 1000 * sum(seconds) / len(seconds) if seconds else None,
            "most_entries_left": max((left for _, left in self.passes), default=None),
            "failed_passes": dict(self.errors),
            "error_examples": self.error_examples,
            "drain_passes": self.drain_passes,
            "drain_seconds": self.drain_seconds,
            "left_after_drain": self.left_after_drain,
        }


class LinkableNullSampler(threading.Thread):
    """Records, for each linkable-but-NULL delivery, its longest unbroken stretch: from the sample that
    first saw it to the last of the consecutive samples that saw it (server clock). A delivery linked and
    later left NULL again (the app's upsert clearing its user, a user's deletion) starts a new stretch:
    first and last sighting over the whole run would count the time it spent linked."""

    def __init__(self, settings: ConnectionSettings, interval: float = 0.5, limit: int = 20_000):
        super().__init__(name="concurrency-linkable-null-sampler", daemon=True)
        self.settings, self.interval, self.limit = settings, interval, limit
        self.stop = threading.Event()
        self.first: dict = {}  # the start of each delivery's current (or last) stretch
        self.last: dict = {}  # its last sighting in that stretch
        self.longest: dict = {}  # delivery -> (seconds, start) of its longest finished stretch
        self.previous: set = set()  # seen by the previous sample
        self.samples = 0
        self.query_seconds = 0.0
        self.capped_samples = 0  # samples that hit the row limit (durations then undercount)
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.final: set = set()  # seen in the last sample, taken after the drain
        self.skipped_while_off: set = set()  # seen, and audited skipped / feature_disabled

    def sample(self, conn: psycopg.Connection) -> set:
        started = time.perf_counter()
        rows = conn.execute(LINKABLE_NULL_NOW, (self.limit,)).fetchall()
        self.query_seconds += time.perf_counter() - started
        self.samples += 1
        if len(rows) >= self.limit:
            self.capped_samples += 1
        seen = set()
        for delivery, now in rows:
            seen.add(delivery)
            if delivery not in self.previous:
                self.first[delivery] = now
            self.last[delivery] = now
        for delivery in self.previous - seen:
            self.close_stretch(delivery)
        self.previous = seen
        return seen

    def close_stretch(self, delivery) -> None:
        seconds = (self.last[delivery] - self.first[delivery]).total_seconds()
        if seconds >= self.longest.get(delivery, (-1.0, None))[0]:
            self.longest[delivery] = (seconds, self.first[delivery])

    def run(self) -> None:
        self.started_at = time.perf_counter()
        with connection.connect(self.settings, application_name="concurrency_bench_linkable_sampler") as conn:
            while not self.stop.wait(self.interval):
                self.sample(conn)
            self.final = self.sample(conn)  # after the drain: what is left
            if self.first:
                self.skipped_while_off = {
                    row[0]
                    for row in conn.execute(
                        "select distinct audit.record_id from public.user_link_audit as audit"
                        " where audit.outcome = 'skipped' and audit.reason = 'feature_disabled'"
                        " and audit.record_id = any(%s)",
                        (list(self.first),),
                    )
                }
        self.stopped_at = time.perf_counter()

    def figures(self, examples: int = 5) -> dict:
        for delivery in self.previous:  # stretches still open at the last sample
            self.close_stretch(delivery)
        self.previous = set()
        durations = sorted(
            (seconds, d, first) for d, (seconds, first) in self.longest.items() if d not in self.skipped_while_off
        )
        elapsed = (self.stopped_at or time.perf_counter()) - (self.started_at or time.perf_counter())
        period = elapsed / self.samples if self.samples else None
        longest = durations[-1][0] if durations else 0.0
        ordered = [d for d, _, _ in durations]
        return {
            "method": "every delivery linkable but NULL, sampled every interval s from the server; a delivery "
            "stayed so, in its longest unbroken stretch of samples, at least last - first seen in that stretch, "
            "at most that + 2 sampling periods (the bound judged)",
            "interval_s": self.interval,
            "samples": self.samples,
            "effective_period_s": period,
            "mean_query_ms": 1000 * self.query_seconds / self.samples if self.samples else None,
            "capped_samples": self.capped_samples,
            "row_limit": self.limit,
            "deliveries_seen": len(durations),
            "longest_observed_s": longest,
            "longest_bound_s": longest + 2 * period if durations and period else 0.0,
            "p50_observed_s": ordered[len(ordered) // 2] if ordered else None,
            "p99_observed_s": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None,
            "still_null_at_end": len(self.final - self.skipped_while_off),
            "skipped_while_linking_off": len(self.skipped_while_off),
            "longest_examples": [
                {"delivery_id": str(d), "first_seen": _iso(first), "observed_s": round(seconds, 3)}
                for seconds, d, first in reversed(durations[-examples:])
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")
