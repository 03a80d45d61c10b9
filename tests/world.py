"""Small helpers to build app data in a test database, in the app's own words."""

from __future__ import annotations

import re
import uuid

import psycopg


def user(conn: psycopg.Connection, phone: str | None = None) -> uuid.UUID:
    return conn.execute("insert into users (phone) values (%s) returning id", (phone,)).fetchone()[0]


def event(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("insert into events default values returning id").fetchone()[0]


def guest(conn, event_id, user_id=None, phone=None, removed=False, name="Guest") -> uuid.UUID:
    return conn.execute(
        "insert into event_guests (event_id, user_id, phone, guest_name, removed_at) "
        "values (%s, %s, %s, %s, case when %s then now() end) returning id",
        (event_id, user_id, phone, name, removed),
    ).fetchone()[0]


def message(conn, event_id) -> uuid.UUID:
    return conn.execute("insert into messages (event_id) values (%s) returning id", (event_id,)).fetchone()[0]


def deliver(conn, message_id=None, guest_id=None, phone=None, user_id=None) -> uuid.UUID:
    return conn.execute(
        "insert into message_deliveries (message_id, guest_id, phone_number, user_id) "
        "values (%s, %s, %s, %s) returning id",
        (message_id, guest_id, phone, user_id),
    ).fetchone()[0]


def delivery_user(conn, delivery_id) -> uuid.UUID | None:
    return conn.execute("select user_id from message_deliveries where id = %s", (delivery_id,)).fetchone()[0]


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
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute(f"select * from user_link_audit {where} order by {AUDIT_ORDER}", params).fetchall()


def set_flag(conn, name: str, enabled: bool) -> None:
    conn.execute("update feature_flags set enabled = %s where flag_name = %s", (enabled, name))


def linkable_null_count(conn) -> int:
    return conn.execute(
        """
        select count(*) from message_deliveries d
        join event_guests g on g.id = d.guest_id
        where d.user_id is null and g.user_id is not null and g.removed_at is null
        """
    ).fetchone()[0]


def sweep(conn, passes: int = 20) -> int:
    """Run the sweeper (each pass its own transaction) until its queue is empty; the entries left."""
    left = None
    for _ in range(passes):
        left = conn.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0]
        if left == 0:
            break
    return left


def unexplained_linkable_null_count(conn) -> int:
    """Linkable-but-NULL deliveries no queue entry explains (the sweeper has not been told to look)."""
    return conn.execute(
        """
        select count(*) from message_deliveries d
        join event_guests g on g.id = d.guest_id
        where d.user_id is null and g.user_id is not null and g.removed_at is null
          and not exists (select from delivery_linkage.guest_link_queue q where q.guest_id = g.id)
        """
    ).fetchone()[0]


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
