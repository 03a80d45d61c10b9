"""The app's rows in a test database, written in the app's own words, and what a test reads back: a
delivery's user, the audit's rows. The app's tables are in schema public (the project's app fixture
and the real app's schema alike)."""

from __future__ import annotations

import re
import uuid

import psycopg
from psycopg.rows import dict_row

# the invariants every suite asserts on, read through this module too (`w.linkable_null_count(db)`)
from delivery_linkage_devtools.testing.invariants import (  # noqa: F401
    linkable_null,
    linkable_null_count,
    unexplained_linkable_null,
    unexplained_linkable_null_count,
)


def user(conn: psycopg.Connection, phone: str | None = None) -> uuid.UUID:
    return conn.execute("insert into public.users (phone) values (%s) returning id", (phone,)).fetchone()[0]


def event(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("insert into public.events default values returning id").fetchone()[0]


def guest(conn, event_id, user_id=None, phone=None, removed=False, name="Guest") -> uuid.UUID:
    return conn.execute(
        "insert into public.event_guests (event_id, user_id, phone, guest_name, removed_at) "
        "values (%s, %s, %s, %s, case when %s then now() end) returning id",
        (event_id, user_id, phone, name, removed),
    ).fetchone()[0]


def message(conn, event_id) -> uuid.UUID:
    return conn.execute("insert into public.messages (event_id) values (%s) returning id", (event_id,)).fetchone()[0]


def deliver(conn, message_id=None, guest_id=None, phone=None, user_id=None) -> uuid.UUID:
    return conn.execute(
        "insert into public.message_deliveries (message_id, guest_id, phone_number, user_id) "
        "values (%s, %s, %s, %s) returning id",
        (message_id, guest_id, phone, user_id),
    ).fetchone()[0]


def delivery_user(conn, delivery_id, as_text: bool = False) -> uuid.UUID | str | None:
    """The delivery's user (as text with `as_text`: the adoption suite names the real app's rows by their
    ids as text)."""
    user_id = conn.execute(
        "select user_id from public.message_deliveries where id = %s", (delivery_id,)
    ).fetchone()[0]
    return str(user_id) if as_text and user_id is not None else user_id


def set_flag(conn, name: str, enabled: bool) -> None:
    conn.execute("update public.feature_flags set enabled = %s where flag_name = %s", (enabled, name))


def sweep(conn, passes: int = 20) -> int:
    """Run the sweeper (each pass its own transaction) until its queue is empty; the entries left."""
    left = None
    for _ in range(passes):
        left = conn.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0]
        if left == 0:
            break
    return left


# the audit view's rows in the order they were written: created_at, then the group and the row in it
AUDIT_ORDER = (
    "created_at, case when audit_source = 'linkage' then split_part(id, '.', 1)::bigint end, "
    "case when audit_source = 'linkage' then split_part(id, '.', 2)::integer end, id"
)


def audit_rows(conn, record_id=None, table_name=None) -> list[dict]:
    conditions, params = [], []
    if record_id is not None:
        conditions.append("record_id = %s")
        params.append(record_id)
    if table_name is not None:
        conditions.append("table_name = %s")
        params.append(table_name)
    where = ("where " + " and ".join(conditions)) if conditions else ""
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(
            f"select * from public.user_link_audit {where} order by {AUDIT_ORDER}", params
        ).fetchall()


def count_categories(conn: psycopg.Connection, target_path: str = "target/pytest_modeled") -> None:
    """What each dbt build does for the delivery categories, in `conn`'s transaction: appends the row of
    delivery_integrity_history, its own SQL as the modeled template's `dbt run` compiled it (the model
    has no incremental branch: each run inserts its select)."""
    from delivery_linkage.database import dbt_runner

    compiled = (
        dbt_runner.target_dir(target_path) / "compiled" / "delivery_linkage" / "models" / "marts"
        / "delivery_integrity_history.sql"
    ).read_text()
    history = conn.execute(
        "select quote_ident(table_schema) || '.delivery_integrity_history' from information_schema.tables"
        " where table_name = 'delivery_integrity_history'"
    ).fetchone()[0]
    # the compiled model names its relations database.schema.name: here, in this database
    compiled = re.sub(r'"[^"]+"\.("[^"]+"\."[^"]+")', r"\1", compiled)
    columns = [c.name for c in conn.execute(f"select * from ({compiled}) as counted limit 0").description]
    conn.execute(f"insert into {history} ({', '.join(columns)}) select * from ({compiled}) as counted")
