"""The project's own app database fixture (contract tables, app trigger, RLS, hosted roles, RPC)."""

from __future__ import annotations

from importlib.resources import files

import psycopg
from psycopg import sql

from delivery_linkage.database.connection import ConnectionSettings, connect


def fixture_sql() -> str:
    return files("delivery_linkage_devtools").joinpath("sql/app_fixture.sql").read_text()


def runbook_feature_flags_sql() -> str:
    """The runbook's feature_flags table and its two flags, for a database the linkage is not deployed on."""
    return files("delivery_linkage_devtools").joinpath("sql/runbook_feature_flags.sql").read_text()


def database_exists(settings: ConnectionSettings, dbname: str) -> bool:
    with connect(settings.with_database("postgres")) as conn:
        return conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone() is not None


def drop_database(settings: ConnectionSettings, dbname: str) -> None:
    with connect(settings.with_database("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def create_database(
    settings: ConnectionSettings, dbname: str, template: str | None = None, owner: str | None = None
) -> None:
    """CREATE DATABASE dbname, a copy of `template` if given, owned by `owner` if given.

    A template must have no other session. Through a pooler its clients may all be gone while the
    pooler still keeps a server connection to it, so the caller's own sessions on it are ended first
    (CREATE DATABASE waits a few seconds for them to exit; it ends autovacuum's itself): a template is
    always a database the caller built for the purpose."""
    statement = sql.SQL("create database {}").format(sql.Identifier(dbname))
    if template:
        statement += sql.SQL(" template {}").format(sql.Identifier(template))
    if owner:
        statement += sql.SQL(" owner {}").format(sql.Identifier(owner))
    with connect(settings.with_database("postgres")) as conn:
        if template:
            conn.execute(
                "select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity"
                " where datname = %s and pid <> pg_catalog.pg_backend_pid()"
                " and backend_type = 'client backend' and usename = current_user",
                (template,),
            )
        conn.execute(statement)


def create_app_database(settings: ConnectionSettings, dbname: str, replace: bool = True) -> None:
    """A fresh database holding the app fixture (and nothing of the linkage yet)."""
    if replace:
        drop_database(settings, dbname)
    create_database(settings, dbname)
    with connect(settings.with_database(dbname)) as conn:
        conn.execute(fixture_sql())


def execute_script(settings: ConnectionSettings, script: str) -> None:
    with connect(settings) as conn:
        conn.execute(script)


def user_foreign_keys_set_null(
    conn: psycopg.Connection, tables: tuple[str, ...] = ("event_guests", "message_deliveries")
) -> None:
    """The app's keys to users, as its schema has them (tests/adoption/sql/02_app_schema.sql): guests' and
    deliveries' user_id ON DELETE SET NULL. Recreated in the order of `tables` (the order PostgreSQL
    runs their actions when a user is deleted); the default is the app's, which creates the guests' first.
    Keys that already set NULL are left as they are (a kept world is not validated again)."""
    already = conn.execute(
        """
        select coalesce(bool_and(c.confdeltype = 'n'), false) from pg_catalog.pg_constraint as c
        where c.conrelid = any(%s::regclass[]) and c.contype = 'f' and c.confrelid = 'public.users'::regclass
        """,
        ([f"public.{table}" for table in tables],),
    ).fetchone()[0]
    if already:
        return
    for table in tables:
        for (name,) in conn.execute(
            """
            select c.conname from pg_catalog.pg_constraint as c
            where c.conrelid = %s::regclass and c.contype = 'f'
              and c.confrelid = 'public.users'::regclass
            """,
            (f"public.{table}",),
        ).fetchall():
            drop = sql.SQL("alter table {} drop constraint {}")
            conn.execute(drop.format(sql.Identifier("public", table), sql.Identifier(name)))
        conn.execute(
            sql.SQL(
                "alter table {} add constraint {} foreign key (user_id) references public.users (id) on delete set null"
            ).format(sql.Identifier("public", table), sql.Identifier(f"{table}_user_id_fkey"))
        )
