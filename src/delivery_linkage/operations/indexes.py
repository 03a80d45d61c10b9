"""Build, CONCURRENTLY, the indexes a deploy did not build inline on a large table.

The deploy (macros/deploy/linkage_indexes.sql) holds the one list of the indexes the linkage needs and
accepts an equivalent index under any name; what it skipped it records, with its CREATE statement, in
linkage_deferred_indexes. This builds exactly those, one at a time, outside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from delivery_linkage.database.schemas import private_schema


def build_deferred(conn, report: Callable[[str], None] = print) -> int:
    """Build every deferred index; returns how many were built. conn must be in autocommit."""
    table = f"{private_schema()}.linkage_deferred_indexes"
    if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
        report("no deferred index list: the linkage is not deployed here (run dbt first)")
        return 0
    deferred = conn.execute(f"select index_name, create_statement from {table} order by index_name").fetchall()
    if not deferred:
        report("every index the linkage needs is present")
    for name, statement in deferred:
        # a build that was interrupted leaves an invalid index of that name: start it again
        invalid = conn.execute(
            "select i.indexrelid::regclass::text from pg_index as i join pg_class as c on c.oid = i.indexrelid "
            "where c.relname = %s and not i.indisvalid",
            (name,),
        ).fetchone()
        if invalid:
            conn.execute(f"drop index concurrently if exists {invalid[0]}")
        conn.execute(statement)
        conn.execute(f"delete from {table} where index_name = %s", (name,))
        report(f"{name}: built")
    return len(deferred)
