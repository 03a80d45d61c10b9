"""Undo the linkage's links since a time, from the audit trail (the deploy's rollback_links_since)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from delivery_linkage.database.schemas import private_schema


@dataclass
class RollbackResult:
    links_found: int
    unlinked: int
    left_alone: int
    dry_run: bool


def run(conn, since: datetime, dry_run: bool = False) -> RollbackResult:
    found, unlinked, left = conn.execute(
        f"select * from {private_schema()}.rollback_links_since(%s, %s)", (since, dry_run)
    ).fetchone()
    return RollbackResult(links_found=found, unlinked=unlinked, left_alone=left, dry_run=dry_run)
