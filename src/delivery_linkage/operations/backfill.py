"""The historical backfill from Python: the same batch function as `dbt run-operation backfill_deliveries`.

Each batch is its own transaction (autocommit), so no batch holds locks for long and an interrupted
run is simply run again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from delivery_linkage.database.schemas import app_schema, private_schema


@dataclass
class BackfillResult:
    dry_run: bool
    batches: int = 0
    scanned: int = 0
    linked: int = 0
    by_reason: Counter = field(default_factory=Counter)
    longest_batch_seconds: float = 0.0


def unlinked_count(conn, schema: str | None = None) -> int:
    schema = schema or app_schema()
    row = conn.execute(f"select count(*) from {schema}.message_deliveries where user_id is null").fetchone()
    return row[0]


def run(
    conn,
    batch_size: int = 5000,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    schema: str | None = None,
) -> BackfillResult:
    import time

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    private = private_schema()
    result = BackfillResult(dry_run=dry_run)
    after = None
    while True:
        started = time.perf_counter()
        last_id, scanned, linked, by_reason = conn.execute(
            f"select * from {private}.backfill_deliveries_batch(%s, %s, %s)", (after, batch_size, dry_run)
        ).fetchone()
        result.longest_batch_seconds = max(result.longest_batch_seconds, time.perf_counter() - started)
        if not scanned:
            return result
        result.batches += 1
        result.scanned += scanned
        result.linked += linked
        result.by_reason.update(by_reason or {})
        after = last_id
        if progress:
            progress(scanned, linked)
