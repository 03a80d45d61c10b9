"""The sweeper from Python (`linkage sweep`): calls delivery_linkage.sweep_guest_link_queue() in a loop.

Where the database has pg_cron the deploy schedules the same function and nothing needs to run here;
elsewhere `linkage sweep` runs in the foreground (for a container, systemd or a supervisor; `--once`
for cron). Each pass is one transaction at READ COMMITTED with a lock_timeout: it never waits on the
app (rows the app holds are skipped), but the deliveries it links stay locked until it commits, so an
app write of one of them waits for the rest of the pass (docs/design.md, the guarantee). A lost
connection is reopened with a growing pause, so a database restart does not end the loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from delivery_linkage.database.schemas import private_schema

PASS_LOCK_TIMEOUT = "200ms"
PASS_STATEMENT_TIMEOUT = "60s"


class SweeperNotDeployed(RuntimeError):
    """The database has no sweeper function: the linkage is not deployed (or is an older version)."""


@dataclass
class SweepPass:
    left: int  # queue entries still waiting after the pass
    seconds: float


def sweep_once(conn) -> SweepPass:
    """One pass in a transaction of its own (the connection is in autocommit mode)."""
    import psycopg

    private = private_schema()
    started = time.perf_counter()
    try:
        with conn.transaction():
            conn.execute("set local transaction isolation level read committed")
            conn.execute(f"set local lock_timeout = '{PASS_LOCK_TIMEOUT}'")
            conn.execute(f"set local statement_timeout = '{PASS_STATEMENT_TIMEOUT}'")
            left = conn.execute(f"select {private}.sweep_guest_link_queue()").fetchone()[0]
    except psycopg.errors.UndefinedFunction:
        raise SweeperNotDeployed(
            f"no function {private}.sweep_guest_link_queue() in this database\n"
            "  fix: deploy the linkage first (`dbt run`, or `dbt run-operation deploy`)"
        ) from None
    return SweepPass(left=left, seconds=time.perf_counter() - started)


def run(
    connect: Callable[[], object],
    interval: float = 1.0,
    passes: int | None = None,
    report: Callable[[SweepPass], None] | None = None,
    on_error: Callable[[Exception, float], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Sweep every `interval` seconds, `passes` times (None: until interrupted, or until `stop` is set)."""
    import psycopg

    stop = stop or threading.Event()
    conn = None
    done = 0
    pause = interval
    while (passes is None or done < passes) and not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = connect()
            result = sweep_once(conn)
            pause = interval
            if report:
                report(result)
        except psycopg.OperationalError as error:
            if conn is not None:
                conn.close()
            conn = None
            pause = min(max(pause * 2, interval), 30.0)
            if on_error:
                on_error(error, pause)
        done += 1
        if passes is None or done < passes:
            stop.wait(pause)
    if conn is not None:
        conn.close()
