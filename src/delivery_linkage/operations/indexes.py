"""Build, CONCURRENTLY, the indexes the linkage needs that are missing.

The deploy (macros/deploy/linkage_indexes.sql) holds the one list of the indexes the linkage needs and
records it in linkage_indexes, each with what counts as an equivalent index (any name). On a large table
the deploy does not build them inside its transaction; and an index can be dropped after a deploy. This
builds every one with no valid equivalent, one at a time, outside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from delivery_linkage.database.schemas import private_schema


def build_missing(conn, report: Callable[[str], None] = print) -> int:
    """Build every needed index that has no valid equivalent; returns how many were built.
    conn must be in autocommit (CREATE INDEX CONCURRENTLY cannot run in a transaction)."""
    table = f"{private_schema()}.linkage_indexes"
    if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
        report("no index list: the linkage is not deployed here (run dbt first)")
        return 0
    built = 0
    wanted = conn.execute(f"select index_name, table_name, create_statement, equivalent from {table} order by 1")
    for name, table_name, statement, equivalent in wanted.fetchall():
        present = conn.execute(
            "select exists (select 1 from pg_catalog.pg_index as i "
            f"where i.indrelid = %s::regclass and i.indisvalid and {equivalent.replace('%', '%%')})",
            (table_name,),
        ).fetchone()[0]
        if present:
            report(f"{name}: present")
            continue
        # a build that was interrupted leaves an invalid index of that name: start it again
        invalid = conn.execute(
            "select i.indexrelid::regclass::text from pg_catalog.pg_index as i "
            "join pg_catalog.pg_class as c on c.oid = i.indexrelid where c.relname = %s and not i.indisvalid",
            (name,),
        ).fetchone()
        if invalid:
            conn.execute(f"drop index concurrently if exists {invalid[0]}")
        conn.execute(statement)
        conn.execute(f"update {table} set deferred_at = null where index_name = %s", (name,))
        report(f"{name}: built")
        built += 1
    return built
