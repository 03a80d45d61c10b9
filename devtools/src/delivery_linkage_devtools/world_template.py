"""A generated world kept as a template database: built once, resumable, fast enough for 100M deliveries.

`build(server, dbname, shape)` creates database `dbname` holding the app fixture and the world `shape`
describes, written by synthetic.py's own statements (the same seed gives the same rows as
`synthetic.generate`), and marks it complete; the next call finds it complete and returns at once, so
benchmarks copy it (`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`) instead of generating again.

What makes it fast (measured at 2M-10M deliveries on 2 cores; see bench/SCALE.md):
- the app tables' indexes and constraints are dropped before the rows go in and rebuilt afterwards: one
  sort per index instead of a random B-tree insertion per row, and each foreign key validated by one
  join instead of one lookup per row (this, not the transfer of the rows, is what the history costs);
- the rows are computed by the server (INSERT … SELECT over generate_series; none travels through the
  client), by `jobs` connections at once, one transaction per chunk of events; the indexes are rebuilt
  by `jobs` connections at once too;
- autovacuum is off for the tables while they fill; one VACUUM (ANALYZE) at the end sets the visibility
  map, as autovacuum leaves an old table, so index-only scans behave as in production.

Resumable: every finished step (the users, each chunk, each index, each constraint, the vacuum) is
recorded in the database itself (schema synthetic_world, dropped when the build is complete), each in
the transaction that does it, so an interrupted build (Ctrl-C, a crash, a full disk) continues where it
stopped when run again with the same shape. A finished template's database comment holds its signature
(the shape and a digest of the generator's code) and its counts.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from delivery_linkage.database import connection
from delivery_linkage_devtools import app_fixture, synthetic

STATE_SCHEMA = "synthetic_world"
SIGNATURE_PREFIX = "delivery_linkage synthetic world"
# bytes on disk per delivery of a finished template (tables, indexes, TOAST; production shape, measured
# at 10M deliveries: bench/SCALE.md), and what the build needs besides: WAL between checkpoints and the
# index sorts' temporary files (the largest index sorted at once per job)
BYTES_PER_DELIVERY = 300
BUILD_HEADROOM_BYTES_PER_DELIVERY = 60
BUILD_HEADROOM_BYTES = 4 * 2**30
MAINTENANCE_WORK_MEM = "1GB"

Progress = Callable[[str, int, int], None]


class TemplateError(RuntimeError):
    """The template cannot be built here; the message names the cause and the fix."""


@dataclass
class DiskCheck:
    needed_bytes: int
    free_bytes: int | None  # None: the server's data directory is not on this machine
    path: str | None

    @property
    def enough(self) -> bool:
        return self.free_bytes is None or self.free_bytes >= self.needed_bytes

    def describe(self) -> str:
        need = f"needs about {gib(self.needed_bytes)} free"
        if self.free_bytes is None:
            return f"{need} on the database server (its data directory is not on this machine: not checked)"
        return f"{need} in {self.path}: {gib(self.free_bytes)} free"


@dataclass
class BuildResult:
    dbname: str
    counts: dict[str, int]
    reused: bool = False
    resumed: bool = False
    seconds: dict[str, float] = field(default_factory=dict)  # per phase, this call (a reused one: its build's)
    deliveries_written: int = 0  # by this call (a resumed build wrote the others before)
    size_bytes: int | None = None

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def rows_per_second(self) -> float | None:
        """Deliveries written per second while the rows went in (indexes and vacuum apart)."""
        load = self.seconds.get("rows")
        return self.deliveries_written / load if load and self.deliveries_written else None

    @property
    def deliveries_per_second(self) -> float | None:
        """Deliveries written per second of the whole call: rows, indexes, vacuum."""
        return self.deliveries_written / self.total_seconds if self.deliveries_written else None


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GB"


def signature(shape: synthetic.WorldShape) -> str:
    """Names the world: its shape, and a digest of what writes it (the statements and the plan of events),
    so that a generator that would write other rows names another world, and an edit that changes
    nothing written (a comment) keeps the template."""
    events, users = synthetic.plan(shape)
    written = "\n".join([synthetic.users_sql(shape), synthetic.chunk_sql(shape, users), repr(events)])
    generator = hashlib.md5(written.encode()).hexdigest()[:12]
    return f"{SIGNATURE_PREFIX} {json.dumps(asdict(shape), sort_keys=True)} generator {generator}"


def estimate_bytes(shape: synthetic.WorldShape) -> int:
    """What the finished template takes on disk (about)."""
    return shape.deliveries * BYTES_PER_DELIVERY


def disk_check(server: connection.ConnectionSettings, shape: synthetic.WorldShape, built_bytes: int = 0) -> DiskCheck:
    """Free space where the server keeps its data against what the rest of the build needs."""
    needed = max(0, estimate_bytes(shape) - built_bytes)
    needed += shape.deliveries * BUILD_HEADROOM_BYTES_PER_DELIVERY + BUILD_HEADROOM_BYTES
    path = None
    if server.embedded:
        from delivery_linkage.database import embedded_server

        path = str(embedded_server.data_dir())
    else:
        try:
            with connection.connect(server.with_database("postgres")) as conn:
                path = conn.execute("select current_setting('data_directory')").fetchone()[0]
        except psycopg.Error:  # data_directory needs pg_read_all_settings
            path = None
    if path is None or not Path(path).exists():
        return DiskCheck(needed, None, path)
    return DiskCheck(needed, shutil.disk_usage(path).free, path)


# --- what the database holds -------------------------------------------------------------------------


def database_comment(server: connection.ConnectionSettings, dbname: str) -> str | None:
    with connection.connect(server.with_database("postgres")) as conn:
        row = conn.execute(
            "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = %s",
            (dbname,),
        ).fetchone()
    return None if row is None else row[0]


def finished(server: connection.ConnectionSettings, dbname: str, shape: synthetic.WorldShape) -> dict | None:
    """The recorded counts and timings when `dbname` is a complete template of `shape`, else None."""
    comment = database_comment(server, dbname)
    if not comment:
        return None
    try:
        recorded = json.loads(comment)
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) and recorded.get("signature") == signature(shape) else None


def _partial_signature(conn: psycopg.Connection) -> str | None:
    exists = conn.execute("select to_regclass(%s) is not null", (f"{STATE_SCHEMA}.build",)).fetchone()[0]
    if not exists:
        return None
    row = conn.execute(f"select signature from {STATE_SCHEMA}.build").fetchone()
    return row[0] if row else None


def _generated(server: connection.ConnectionSettings, dbname: str) -> bool:
    """Whether `dbname` is a template this generator built or is building (any shape)."""
    try:
        recorded = json.loads(database_comment(server, dbname) or "")
    except ValueError:
        recorded = None
    if isinstance(recorded, dict) and str(recorded.get("signature", "")).startswith(SIGNATURE_PREFIX):
        return True
    with connection.connect(server.with_database(dbname)) as conn:
        return (_partial_signature(conn) or "").startswith(SIGNATURE_PREFIX)


def database_bytes(server: connection.ConnectionSettings, dbname: str) -> int:
    with connection.connect(server.with_database("postgres")) as conn:
        row = conn.execute("select pg_database_size(%s)", (dbname,)).fetchone()
    return int(row[0])


# --- the build ---------------------------------------------------------------------------------------


def build(
    server: connection.ConnectionSettings,
    dbname: str,
    shape: synthetic.WorldShape,
    progress: Progress | None = None,
    jobs: int = 2,
    fresh: bool = False,
    check_disk: bool = True,
    chunk_deliveries: int = synthetic.CHUNK_DELIVERIES,
) -> BuildResult:
    """Build (or finish, or reuse) the template database `dbname` holding the world `shape`.

    Raises TemplateError when `dbname` holds something else (another shape's partial build, a database
    this generator did not make) or when the disk is too small; `fresh` drops it first.
    """
    report = progress or (lambda stage, done, total: None)
    jobs = max(1, jobs)
    if fresh and database_comment(server, dbname) is not None:
        if not _generated(server, dbname):
            raise TemplateError(
                f"database {dbname} exists and is not a world this generator built: --fresh does not drop it\n"
                "  fix: choose another --template name"
            )
        app_fixture.drop_database(server, dbname)
    recorded = finished(server, dbname, shape)
    if recorded is not None:
        return BuildResult(
            dbname,
            recorded["counts"],
            reused=True,
            seconds=recorded.get("seconds", {}),
            size_bytes=recorded.get("size_bytes"),
        )
    exists = database_comment(server, dbname) is not None
    resumed = False
    built = 0
    if exists:
        with connection.connect(server.with_database(dbname)) as conn:
            partial = _partial_signature(conn)
        if partial is None:
            raise TemplateError(
                f"database {dbname} exists and is not a world this generator is building\n"
                f"  fix: choose another --template name, or rebuild it with --fresh (drops {dbname})"
            )
        if partial != signature(shape):
            raise TemplateError(
                f"database {dbname} holds an unfinished build of another world ({partial})\n"
                "  fix: run again with that build's options to finish it, or start over with --fresh"
            )
        resumed = True
        built = database_bytes(server, dbname)
    if check_disk:
        disk = disk_check(server, shape, built)
        if not disk.enough:
            raise TemplateError(
                f"not enough disk for {shape.deliveries:,} deliveries: {disk.describe()}\n"
                f"  fix: free {gib(disk.needed_bytes - (disk.free_bytes or 0))} (drop databases you do not need),"
                " or generate fewer deliveries"
            )
    if not exists:
        app_fixture.create_app_database(server, dbname)
    settings = server.with_database(dbname)
    result = BuildResult(dbname, {}, resumed=resumed)
    events, users = synthetic.plan(shape)
    with connection.connect(settings) as conn:
        if not resumed:
            _prepare(conn, shape, chunk_deliveries)
        done = _done_steps(conn)
        # a resumed build keeps its chunks (the steps are named after them), whatever this call asks
        chunk_deliveries = conn.execute(f"select chunk_deliveries from {STATE_SCHEMA}.build").fetchone()[0]
    chunks = synthetic.chunks(events, chunk_deliveries)

    started = time.perf_counter()
    if "users" not in done:
        report("users", 0, users)
        _write_users(settings, shape, users)
    report("users", users, users)
    result.seconds["users"] = time.perf_counter() - started

    started = time.perf_counter()
    result.deliveries_written = _write_chunks(settings, shape, users, chunks, done, jobs, report)
    result.seconds["rows"] = time.perf_counter() - started

    started = time.perf_counter()
    _rebuild(settings, jobs, report)
    result.seconds["indexes"] = time.perf_counter() - started

    started = time.perf_counter()
    _vacuum(settings, jobs, report)
    result.seconds["vacuum"] = time.perf_counter() - started

    with connection.connect(settings) as conn:
        result.counts = _counts(conn, events, users)
        conn.execute(f"drop schema {STATE_SCHEMA} cascade")
    result.size_bytes = database_bytes(server, dbname)
    recorded = {
        "signature": signature(shape),
        "counts": result.counts,
        "seconds": {k: round(v, 1) for k, v in result.seconds.items()},  # the last call's
        "resumed": resumed,
        "size_bytes": result.size_bytes,
    }
    with connection.connect(server.with_database("postgres")) as conn:
        conn.execute(
            sql.SQL("comment on database {} is {}").format(sql.Identifier(dbname), sql.Literal(json.dumps(recorded)))
        )
    return result


def copy(server: connection.ConnectionSettings, template: str, dbname: str) -> None:
    """`dbname` as a fresh copy of the template (file copy: no WAL for the whole database)."""
    app_fixture.drop_database(server, dbname)
    with connection.connect(server.with_database("postgres")) as conn:
        conn.execute(
            sql.SQL("create database {} template {} strategy file_copy").format(
                sql.Identifier(dbname), sql.Identifier(template)
            )
        )


# --- steps ---------------------------------------------------------------------------------------------


def _prepare(conn: psycopg.Connection, shape: synthetic.WorldShape, chunk_deliveries: int) -> None:
    """Bookkeeping schema; the generated tables' constraints and indexes recorded, then dropped."""
    tables = [f"{synthetic.SCHEMA}.{t}" for t in synthetic.TABLES]
    with conn.transaction():
        conn.execute(f"""
            create schema {STATE_SCHEMA};
            create table {STATE_SCHEMA}.build (
                signature text not null, chunk_deliveries int not null, started_at timestamptz not null default now()
            );
            create table {STATE_SCHEMA}.steps (
                step text primary key, counts jsonb, seconds float8, done_at timestamptz not null default now()
            );
            create table {STATE_SCHEMA}.rebuild (
                position int primary key, kind text not null, table_name text not null, object_name text not null,
                create_statement text not null
            );
        """)
        conn.execute(
            f"insert into {STATE_SCHEMA}.build (signature, chunk_deliveries) values (%s, %s)",
            (signature(shape), chunk_deliveries),
        )
        conn.execute("set local search_path = ''")  # every name in the recorded definitions qualified
        triggers = conn.execute(
            """
            select t.tgrelid::regclass::text, t.tgname::text from pg_catalog.pg_trigger as t
            where t.tgrelid = any(%s::regclass[]) and not t.tgisinternal and t.tgenabled <> 'D'
              and t.tgtype & 4 <> 0
            """,
            (tables,),
        ).fetchall()
        if triggers:  # the template is the bare app: nothing may fire on the history's inserts
            raise TemplateError(f"insert triggers on the app tables of a new template: {triggers}")
        constraints = conn.execute(
            """
            select c.contype::text, c.conrelid::regclass::text, c.conname::text,
                   pg_catalog.pg_get_constraintdef(c.oid), pg_catalog.pg_get_indexdef(c.conindid)
            from pg_catalog.pg_constraint as c
            where c.contype in ('p', 'u', 'f')
              and (c.conrelid = any(%s::regclass[]) or c.confrelid = any(%s::regclass[]))
            order by c.contype = 'f', c.conrelid::regclass::text, c.conname
            """,
            (tables, tables),
        ).fetchall()
        indexes = conn.execute(
            """
            select i.indrelid::regclass::text, i.indexrelid::regclass::text, pg_catalog.pg_get_indexdef(i.indexrelid)
            from pg_catalog.pg_index as i
            where i.indrelid = any(%s::regclass[])
              and not exists (select 1 from pg_catalog.pg_constraint as c where c.conindid = i.indexrelid)
            order by 1, 2
            """,
            (tables,),
        ).fetchall()
        rows: list[tuple[str, str, str, str]] = []
        for kind, table, name, definition, index_definition in constraints:
            quoted = sql.Identifier(name).as_string(conn)
            if kind == "f":
                rows.append(("foreign_key", table, name, f"alter table {table} add constraint {quoted} {definition}"))
            else:  # the index first (in parallel with the others), then the constraint on it
                rows.append(("index", table, name, index_definition))
                using = "primary key" if kind == "p" else "unique"
                statement = f"alter table {table} add constraint {quoted} {using} using index {quoted}"
                rows.append(("constraint", table, name, statement))
        # an index's regclass text is schema-qualified here (empty search_path): its name alone is kept
        rows.extend(("index", table, name.split(".")[-1].strip('"'), definition) for table, name, definition in indexes)
        order = {"index": 0, "constraint": 1, "foreign_key": 2}
        rows.sort(key=lambda row: order[row[0]])
        with conn.cursor() as cursor:
            cursor.executemany(
                f"insert into {STATE_SCHEMA}.rebuild values (%s, %s, %s, %s, %s)",
                [(position, *row) for position, row in enumerate(rows)],
            )
        for _kind, table, name, _definition, _index in sorted(constraints, key=lambda c: c[0] != "f"):
            conn.execute(sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(name)))
        for _table, name, _definition in indexes:
            conn.execute(f"drop index {name}")
        for table in tables:
            conn.execute(f"alter table {table} set (autovacuum_enabled = false)")


def _done_steps(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(f"select step from {STATE_SCHEMA}.steps")}


def _record(conn: psycopg.Connection, step: str, counts: dict | None, seconds: float) -> None:
    conn.execute(
        f"insert into {STATE_SCHEMA}.steps (step, counts, seconds) values (%s, %s, %s)",
        (step, Jsonb(counts) if counts is not None else None, seconds),
    )


def _write_users(settings: connection.ConnectionSettings, shape: synthetic.WorldShape, users: int) -> None:
    started = time.perf_counter()
    users_sql = synthetic.users_sql(shape)
    with connection.connect(settings) as conn, conn.transaction():
        for lo in range(0, users, synthetic.USER_CHUNK):
            conn.execute(users_sql, {"lo": lo, "hi": min(users, lo + synthetic.USER_CHUNK) - 1})
        _record(conn, "users", {"users": users}, time.perf_counter() - started)


class _Workers:
    """`jobs` threads, one connection each, taking work from a queue until it is empty. The first
    failure (or Ctrl-C in the caller) stops the others: their statements are cancelled, their open
    transactions roll back, the finished steps stay."""

    def __init__(self, settings: connection.ConnectionSettings, jobs: int, work: Callable, items: list) -> None:
        self.settings, self.work = settings, work
        self.items: queue.Queue = queue.Queue()
        for item in items:
            self.items.put(item)
        self.jobs = min(jobs, len(items))
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.connections: list[psycopg.Connection] = []
        self.lock = threading.Lock()

    def _run(self) -> None:
        try:
            with connection.connect(self.settings) as conn:
                with self.lock:
                    self.connections.append(conn)
                conn.execute("set work_mem = '64MB'")
                conn.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(MAINTENANCE_WORK_MEM)))
                if self.jobs > 1:  # the jobs are the parallelism
                    conn.execute("set max_parallel_maintenance_workers = 0")
                while not self.stop.is_set():
                    try:
                        item = self.items.get_nowait()
                    except queue.Empty:
                        return
                    self.work(conn, item)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self.errors.append(error)
            self.stop.set()

    def run(self) -> None:
        if not self.jobs:
            return
        threads = [threading.Thread(target=self._run, daemon=True) for _ in range(self.jobs)]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(0.2)
                if self.stop.is_set():
                    self._cancel()
        except BaseException:
            self.stop.set()
            self._cancel()
            for thread in threads:
                thread.join(10)
            raise
        if self.errors:
            raise self.errors[0]

    def _cancel(self) -> None:
        with self.lock:
            for conn in self.connections:
                try:
                    conn.cancel_safe(timeout=5)
                except Exception:  # noqa: BLE001 - already closed
                    pass


def _write_chunks(settings, shape, users, chunks, done, jobs, report) -> int:
    """Writes the chunks not done yet, `jobs` at a time; returns the deliveries written."""
    total = sum(e.guests * e.messages for e in synthetic.flatten(chunks))
    todo = [(number, chunk) for number, chunk in enumerate(chunks) if f"chunk {number}" not in done]
    written = before = total - sum(e.guests * e.messages for _, chunk in todo for e in chunk)
    report("deliveries", written, total)
    chunk_sql = synthetic.chunk_sql(shape, users)
    lock = threading.Lock()

    def work(conn: psycopg.Connection, item: tuple[int, list]) -> None:
        nonlocal written
        number, chunk = item
        started = time.perf_counter()
        with conn.transaction():
            guests, deliveries, linkable_null = conn.execute(chunk_sql, synthetic.chunk_params(chunk)).fetchone()
            counts = {"event_guests": guests, "message_deliveries": deliveries, "linkable_null": linkable_null}
            _record(conn, f"chunk {number}", counts, time.perf_counter() - started)
        with lock:
            written += deliveries
            report("deliveries", written, total)

    _Workers(settings, jobs, work, todo).run()
    return written - before


def _rebuild(settings: connection.ConnectionSettings, jobs: int, report: Progress) -> None:
    """The recorded indexes (in parallel), then the constraints on them, then the foreign keys (each
    validated by one join). Each statement is skipped when its object is there already."""
    with connection.connect(settings) as conn:
        rows = conn.execute(  # the largest tables' first, so that the jobs finish together
            f"""
            select kind, table_name, object_name, create_statement from {STATE_SCHEMA}.rebuild
            order by pg_catalog.pg_relation_size(table_name::regclass) desc, position
            """
        ).fetchall()
    total, built = len(rows), 0
    lock = threading.Lock()

    def exists(conn: psycopg.Connection, kind: str, table: str, name: str) -> bool:
        if kind == "index":
            schema = table.split(".")[0]
            qualified = sql.SQL("{}.{}").format(sql.SQL(schema), sql.Identifier(name)).as_string(conn)
            return conn.execute("select to_regclass(%s) is not null", (qualified,)).fetchone()[0]
        return conn.execute(
            "select exists (select 1 from pg_catalog.pg_constraint where conrelid = %s::regclass and conname = %s)",
            (table, name),
        ).fetchone()[0]

    def work(conn: psycopg.Connection, row: tuple[str, str, str, str]) -> None:
        nonlocal built
        kind, table, name, statement = row
        if not exists(conn, kind, table, name):
            conn.execute(statement)
        with lock:
            built += 1
            report("indexes", built, total)

    report("indexes", 0, total)
    for kind in ("index", "constraint", "foreign_key"):
        batch = [row for row in rows if row[0] == kind]
        _Workers(settings, jobs if kind == "index" else 1, work, batch).run()


def _vacuum(settings: connection.ConnectionSettings, jobs: int, report: Progress) -> None:
    with connection.connect(settings) as conn:
        if "vacuum" in _done_steps(conn):
            return
        tables = conn.execute(
            """
            select c.oid::regclass::text from pg_catalog.pg_class as c
            where c.oid = any(%s::regclass[]) order by pg_catalog.pg_relation_size(c.oid) desc
            """,
            ([f"{synthetic.SCHEMA}.{t}" for t in synthetic.TABLES],),
        ).fetchall()
    tables = [row[0] for row in tables]
    vacuumed = 0
    lock = threading.Lock()
    report("vacuum", 0, len(tables))

    def work(conn: psycopg.Connection, table: str) -> None:
        nonlocal vacuumed
        conn.execute(f"alter table {table} reset (autovacuum_enabled)")
        conn.execute(f"vacuum (analyze) {table}")
        with lock:
            vacuumed += 1
            report("vacuum", vacuumed, len(tables))

    _Workers(settings, jobs, work, tables).run()
    with connection.connect(settings) as conn:
        _record(conn, "vacuum", None, 0.0)


def _counts(conn: psycopg.Connection, events: list, users: int) -> dict[str, int]:
    counts = synthetic.planned_counts(events, users)
    for (row,) in conn.execute(f"select counts from {STATE_SCHEMA}.steps where step like 'chunk %%'"):
        for key in ("event_guests", "message_deliveries", "linkable_null"):
            counts[key] += int(row[key])
    return counts
