"""Undo the linkage's links since a time (the private rollback_links_since), as `dbt run-operation rollback_links`.

The time is parsed by PostgreSQL (`::timestamptz`), exactly as the dbt operation and psql parse it:
with an offset (`2026-11-24T10:00+01:00`, `…Z`) it is exact; without one it is read in the
database session's time zone (the server's TimeZone setting unless PGTZ or the role says
otherwise). The result names the zone used and the instant it resolved to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from delivery_linkage.database.schemas import private_schema


class InvalidTime(ValueError):
    """The time could not be read; the message names the accepted forms."""


@dataclass
class RollbackResult:
    since: datetime
    time_zone: str
    dry_run: bool
    links_found: int
    unlinked: int
    left_alone: int


def rollback(conn, since: str, dry_run: bool = False) -> RollbackResult:
    import psycopg

    try:
        with conn.transaction():
            since_at, zone = conn.execute(
                "select %s::timestamptz, pg_catalog.current_setting('TimeZone')", (since,)
            ).fetchone()
    except psycopg.errors.DataError as error:
        raise InvalidTime(
            f"cannot read --since {since!r} as a time: {error.diag.message_primary or error}\n"
            "  fix: give e.g. '2026-11-24 10:00' (session time zone) or '2026-11-24T10:00+01:00'"
        ) from None
    found, unlinked, left = conn.execute(
        f"select * from {private_schema()}.rollback_links_since(%s, %s)", (since_at, dry_run)
    ).fetchone()
    return RollbackResult(since_at, zone, dry_run, found, unlinked, left)
