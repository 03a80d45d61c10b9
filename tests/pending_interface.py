"""The parts of the deploy's new interface (BRIEF: the write-path redesign) that the models read but
that this branch's deploy does not create yet: `user_link_audit.audit_source` and the private
schema's `audit_write_failures`. Tests that need them add them with these helpers; once main's
deploy creates them, the helpers find them there and do nothing (and can then be deleted).
"""

from __future__ import annotations

PRIVATE_SCHEMA = "delivery_linkage"


def add_audit_source(conn) -> None:
    """user_link_audit.audit_source, 'linkage' for the rows this project writes."""
    kind = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relname = 'user_link_audit'"
    ).fetchone()[0]
    if kind == "r":  # the previous deploy's table; the new deploy's view already has the column
        conn.execute("alter table public.user_link_audit add column if not exists audit_source text default 'linkage'")


def add_audit_write_failures(conn) -> None:
    conn.execute(f"create schema if not exists {PRIVATE_SCHEMA}")
    conn.execute(
        f"create table if not exists {PRIVATE_SCHEMA}.audit_write_failures ("
        " id bigint generated always as identity primary key, created_at timestamptz not null default now(),"
        " table_name text, error text, payload jsonb)"
    )
