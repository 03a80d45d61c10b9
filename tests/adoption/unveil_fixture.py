"""The adoption fixture: a database shaped like the real app's (grantdelgado/unveil), with its original
linkage, its guards and a small world lived through them, on our own server.

The SQL is ours, written from the app's migrations and inventories (see sql/*.sql and README.md). The
builder runs each part as the role that owns it on the hosted platform: the platform's parts as the
server's superuser, the app's as `platform_owner` (the platform's non-superuser `postgres`), so the
app's tables, functions and audit belong to a role that is not a superuser, as they do there.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from delivery_linkage.database.connection import ConnectionSettings

SQL_DIR = Path(__file__).resolve().parent / "sql"

OWNER_ROLE = "platform_owner"
# roles created by the fixture itself; the password only matters on servers that do not trust local
# connections (the embedded server does)
OWNER_PASSWORD = "platform_owner"
API_LOGIN_ROLE = "authenticator"
API_LOGIN_PASSWORD = "authenticator"

# (file, run as): the platform's parts as the superuser, the app's as its owner (00_platform_roles.sql,
# cluster-wide, runs before the database is created)
BUILD_STEPS = (
    ("01_platform.sql", "superuser"),
    ("02_app_schema.sql", "owner"),
    ("03_original_linkage.sql", "owner"),
    ("04_world.sql", "owner"),
    ("05_guard_functions.sql", "owner"),
    ("06_guard_triggers.sql", "superuser"),
)

# the world's cast (04_world.sql), by name
USERS = {
    "hana": "10000000-0000-4000-8000-000000000001",
    "omar": "10000000-0000-4000-8000-000000000002",
    "ava": "10000000-0000-4000-8000-000000000003",
    "ben": "10000000-0000-4000-8000-000000000004",
    "cleo": "10000000-0000-4000-8000-000000000005",
    "dev": "10000000-0000-4000-8000-000000000006",
}
EVENTS = {
    "wedding": "20000000-0000-4000-8000-00000000000a",
    "birthday": "20000000-0000-4000-8000-00000000000b",
    "gala": "20000000-0000-4000-8000-00000000000c",
}
GUESTS = {
    "wedding/hana": "30000000-0000-4000-8000-0000000000a0",
    "wedding/ava": "30000000-0000-4000-8000-0000000000a1",
    "wedding/ben": "30000000-0000-4000-8000-0000000000a2",
    "wedding/cleo": "30000000-0000-4000-8000-0000000000a3",  # removed
    "wedding/dev": "30000000-0000-4000-8000-0000000000a4",  # never linked; Dev's user has his phone
    "wedding/fay": "30000000-0000-4000-8000-0000000000a5",
    "wedding/gus": "30000000-0000-4000-8000-0000000000a6",  # no phone
    "wedding/kim": "30000000-0000-4000-8000-0000000000a7",  # removed, invited again as kim-again
    "wedding/ivy": "30000000-0000-4000-8000-0000000000a8",
    "wedding/kim-again": "30000000-0000-4000-8000-0000000000a9",
    "birthday/omar": "30000000-0000-4000-8000-0000000000b0",
    "birthday/ben": "30000000-0000-4000-8000-0000000000b1",
    "birthday/jon": "30000000-0000-4000-8000-0000000000b2",
    "birthday/ava": "30000000-0000-4000-8000-0000000000b3",
    "birthday/jon-partner": "30000000-0000-4000-8000-0000000000b4",  # removed
    "gala/ava": "30000000-0000-4000-8000-0000000000c1",
    "gala/fay": "30000000-0000-4000-8000-0000000000c2",
}
MESSAGES = {
    "wedding/save-the-date": "40000000-0000-4000-8000-0000000000a1",
    "wedding/venue": "40000000-0000-4000-8000-0000000000a2",
    "wedding/shuttles": "40000000-0000-4000-8000-0000000000a3",
    "wedding/dress-code": "40000000-0000-4000-8000-0000000000a4",  # sent while linking was off
    "birthday/invitation": "40000000-0000-4000-8000-0000000000b1",
    "birthday/moved": "40000000-0000-4000-8000-0000000000b2",  # sent while Jon's phone was ambiguous
    "gala/thanks": "40000000-0000-4000-8000-0000000000c1",
}
# the original daily script on the world as built (see 04_world.sql)
WORLD_DAILY_FIGURES = {
    "total_deliveries": 39,
    "inconsistent": 3,
    "consistent": 16,
    "both_null": 18,
    "percentage": Decimal("7.69"),
    "health_status": "NEEDS_ATTENTION",
    "alert": "critical",
}


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


# ---------------------------------------------------------------------------------------------------
# connection settings for the fixture's roles


def as_owner(settings: ConnectionSettings) -> ConnectionSettings:
    """The same database, as the platform's owner role (NOSUPERUSER, owns the app's objects)."""
    return replace(settings, user=OWNER_ROLE, password=OWNER_PASSWORD)


def as_api_login(settings: ConnectionSettings) -> ConnectionSettings:
    """The same database, as the role the platform's data API logs in as (authenticator)."""
    return replace(settings, user=API_LOGIN_ROLE, password=API_LOGIN_PASSWORD)


@contextlib.contextmanager
def as_authenticated(settings: ConnectionSettings, user_id: str | None, claims: dict | None = None):
    """A connection that sees the database as the data API serves a signed-in user: logged in as
    authenticator, switched to role authenticated, the JWT claims in request.jwt.claims (auth.uid() is
    their `sub`). user_id None: a request without a sub. Autocommit; the settings last the session."""
    payload = {"role": "authenticated", "aud": "authenticated", **(claims or {})}
    if user_id is not None:
        payload["sub"] = str(user_id)
    with psycopg.connect(as_api_login(settings).conninfo(), autocommit=True) as conn:
        conn.execute("set role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, false)", (json.dumps(payload),))
        yield conn


# ---------------------------------------------------------------------------------------------------
# databases


def _admin(settings: ConnectionSettings) -> psycopg.Connection:
    return psycopg.connect(settings.with_database("postgres").conninfo(), autocommit=True)


def drop_database(settings: ConnectionSettings, dbname: str) -> None:
    with _admin(settings) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def is_superuser(settings: ConnectionSettings) -> bool:
    with _admin(settings) as conn:
        return conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]


def _ensure_fixture_roles(settings: ConnectionSettings) -> None:
    """The cluster-wide part of the platform (roles and their attributes) and the fixture's passwords."""
    with _admin(settings) as conn:
        conn.execute(read_sql("00_platform_roles.sql"))
        for role, password in ((OWNER_ROLE, OWNER_PASSWORD), (API_LOGIN_ROLE, API_LOGIN_PASSWORD)):
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(password)))


def build_database(settings: ConnectionSettings, dbname: str) -> None:
    """Create `dbname` (owned by platform_owner) holding the app as its migrations leave it, the
    original linkage, the world and the guards. `settings` must be a superuser's."""
    drop_database(settings, dbname)
    _ensure_fixture_roles(settings)
    with _admin(settings) as conn:
        conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(dbname), sql.Identifier(OWNER_ROLE)))
    target = settings.with_database(dbname)
    for name, run_as in BUILD_STEPS:
        connection = target if run_as == "superuser" else as_owner(target)
        with psycopg.connect(connection.conninfo(), autocommit=True) as conn:
            for phase in phases(read_sql(name)):
                try:
                    conn.execute(phase)
                except psycopg.Error as error:
                    raise RuntimeError(f"building {dbname}: {name} failed: {error}\n{phase[:400]}") from error


def phases(script: str) -> list[str]:
    """A script cut at its `commit;` lines: each phase runs as one query (one transaction, one now())."""
    chunks = re.split(r"^commit;[ \t]*$", script, flags=re.MULTILINE)
    return [chunk for chunk in chunks if re.sub(r"--[^\n]*", "", chunk).strip()]


def clone_database(settings: ConnectionSettings, dbname: str, template: str) -> None:
    with _admin(settings) as conn:
        conn.execute(
            sql.SQL("create database {} template {} owner {}").format(
                sql.Identifier(dbname), sql.Identifier(template), sql.Identifier(OWNER_ROLE)
            )
        )


# ---------------------------------------------------------------------------------------------------
# the original system's daily figures


@dataclass(frozen=True)
class DailyIntegrityFigures:
    """The main query of the original daily integrity script, on one database."""

    total_deliveries: int
    inconsistent: int
    consistent: int
    both_null: int
    percentage: Decimal | None
    health_status: str
    alert: str


def original_daily_figures(settings: ConnectionSettings) -> DailyIntegrityFigures:
    """What the original daily script (our transcription, sql/original_daily_integrity_check.sql)
    reports on the database: counts over deliveries joined to their guest, percentage, health, alert."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        row = conn.execute(read_sql("original_daily_integrity_check.sql")).fetchone()
    return DailyIntegrityFigures(*row)
