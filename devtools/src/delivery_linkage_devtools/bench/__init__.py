"""`linkage bench`: the linkage's cost on the app's writes and reads, measured side by side.

One run, one server, identical copies of the same generated world (`CREATE DATABASE … TEMPLATE`):
- floor: the app's tables with no linkage at all;
- ideal_app (reference): no linkage installed; the app sets user_id itself in the same INSERT through a
  join to event_guests (bench/ideal_app.sql) — the physical limit of linking at insert;
- minimal_trigger (reference): bench/minimal_trigger.sql, a SECURITY DEFINER BEFORE INSERT row trigger
  that only copies the active guest's user_id (no audit, no lock);
- project: this project's linkage, deployed by dbt (`dbt run-operation deploy`);
- baseline: bench/baseline_linkage.sql, the runbook's design built the straightforward way;
- optional experiments: SQL files applied on top of the project's deploy (design changes under test).
The workloads run alternately on the variants (the order rotates), repeated, every reference in the
same rounds as the project; each is summarised by median and interquartile range, and reported as a
ratio to its reference (the floor, or the hand-written set-based statement where the issue compares
with that) and to the two references where they take part (inserts, status updates, guest name
edits, user deletions); a target names the reference it is measured against (issue 15's targets).
A run whose references drifted (results.DRIFT_RULES: the minimal trigger outside its known range of
the floor on announcement sends, the references that do the floor's work reading more than 3 % off
it, the floor's own round medians spread too wide) is flagged: printed with its reasons and written
to target/bench-flagged/ instead of bench/results/. The results record the machine, the command and
the load average before and after.
The audit's storage is measured in bytes per attempt over sends to linked guests. Correctness is
checked along the way: the linking variants (references included) must agree row for row, the
integrity figures must be identical.

Worlds: a write world (default 1M deliveries) for the write path and the integrity check at 1M;
a big world (default 10M deliveries, about 1M of them linkable but NULL) for the integrity check at
10M and the historical backfill. Results: bench/results/latest.json and latest.png.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage_devtools import CHECKOUT_DIR, app_fixture, doc_blocks, synthetic, world_template
from delivery_linkage_devtools.bench import results as bench_report
from delivery_linkage_devtools.bench import workloads as bench_workloads
from delivery_linkage_devtools.bench.results import (
    BASELINE,
    FLOOR,
    IDEAL_APP,
    MINIMAL_TRIGGER,
    PROJECT,
    REFERENCES,
    Check,
    StorageGrowth,
    Target,
    Workload,
)
from delivery_linkage_devtools.testing import invariants

BENCH_DIR = CHECKOUT_DIR / "bench"
BASELINE_SQL = BENCH_DIR / "baseline_linkage.sql"
MINIMAL_TRIGGER_SQL = BENCH_DIR / "minimal_trigger.sql"
RUNBOOK_QUERY_SQL = BENCH_DIR / "runbook_daily_query.sql"
CRON_SCRIPT = CHECKOUT_DIR / "scripts" / "daily-delivery-integrity-check.sql"
FIGURES = (  # the total, the defects and the delivery categories (macros/metrics/linkage_delivery_categories.sql)
    "total_deliveries",
    "inconsistent_deliveries",
    "linked_to_guest_user",
    "linked_to_other_user",
    "linked_without_guest",
    "linkable_null",
    "null_guest_not_linked",
    "null_guest_removed",
    "null_guest_other_event",
    "null_without_guest",
)
DBT_SCHEMA = "linkage"

# issue 15's cost targets (and the earlier ones of the integrity check and the historical backfill)
TARGETS = {
    "announcement_sends": Target(1.15, "≤ 1.15× minimal trigger", MINIMAL_TRIGGER),
    "single_inserts": Target(1.3, "≤ 1.3× floor"),
    "status_updates": Target(1.03, "≤ 1.03× floor"),
    "guest_name_edits": Target(1.03, "≤ 1.03× floor"),
    "user_deletes": Target(2.0, "≤ 2× floor"),
    "bulk_guest_link": Target(1.2, "≤ 1.2× one set-based UPDATE"),
    "integrity_big": Target(0.2, "≥ 5× faster"),
    "historical_backfill": Target(2.0, "≤ 2× one UPDATE"),
}
AUDIT_TABLE_BYTES_PER_ATTEMPT = 40.0  # audit storage, table + TOAST, over a send to linked guests
AUDIT_STORAGE_METHOD = (
    "Sends to the linked guests of the sampled events (one INSERT per message, every delivery one attempt that"
    " links) until at least audit_attempts deliveries, on each variant's copy. The variant's own relations are"
    " every table (any schema but the dbt models') its copy has and the floor's copy has not, with their TOAST"
    " tables and indexes, and apart the indexes it added on the app's tables. Each own table is vacuumed before"
    " and after (VACUUM drops the empty pages an extension left past the last row and flushes GIN pending lists);"
    " sizes are the relation files' (pg_relation_size of the main fork of the table and of its TOAST table;"
    " pg_indexes_size; pg_total_relation_size for every fork), which PostgreSQL extends when it adds a page, so"
    " no CHECKPOINT is needed. Bytes per attempt = growth / attempts; a page is 8 KiB, so the error is at most"
    " 8192 / attempts bytes per relation."
)
# the workloads the references take part in: they link at insert and do nothing else (no phone rules,
# no guest-link backfill), so they are no reference for the others; on updates and deletions they do
# the floor's work, which makes them the run's A/A test (results.DRIFT_RULES)
REFERENCE_WORKLOADS = (
    "announcement_sends",
    "audit_storage",
    "single_inserts",
    "status_updates",
    "guest_name_edits",
    "user_deletes",
)
MAX_BATCH_SECONDS = 1.0
WORKLOADS = (
    "integrity",
    "announcement_sends",
    "audit_storage",
    "single_inserts",
    "single_inserts_phone_only",
    "status_updates",
    "guest_name_edits",
    "user_deletes",
    "bulk_guest_link",
    "single_guest_links",
    "big_world",
)


@dataclass
class BenchOptions:
    """Sizes and repetitions. The defaults are `make bench` (about 20 minutes on 2 cores)."""

    deliveries: int = 1_000_000  # the write world (write path; integrity at this size)
    big_deliveries: int = 10_000_000  # the big world (integrity at this size; historical backfill)
    seed: int = 42
    rounds: int = 5  # measured rounds of the per-operation workloads (after `warmup` rounds)
    warmup: int = 1
    announcements: int = 8  # events sent to per round
    announcement_guests: tuple[int, int] = (450, 500)
    single_inserts: int = 100  # per round
    phone_only_inserts: int = 40  # per round
    status_updates: int = 200  # per round
    name_edits: int = 200  # per round
    # per round: eight, so that a round's median means something to the floor_spread rule (with three,
    # three quiet runs on 2026-12-07 read the floor's rounds 1.29-1.31x apart while every other workload,
    # eight or more a round, read at most 1.12x)
    user_deletes: int = 8
    user_delete_deliveries: int = 2000  # each deleted user's deliveries …
    user_delete_events: int = 4  # … in this many events (of the announcement events)
    bulk_link_guests: int = 10_000
    bulk_link_rounds: int = 3
    single_links: int = 60  # in total, per variant
    audit_attempts: int = 20_000  # at least this many attempts in sends to linked guests (audit bytes)
    integrity_rounds: int = 5
    backfill_rounds: int = 1
    backfill_batch_size: int = 5000
    baseline_backfill: bool = True
    # each "a.sql", "a.sql+b.sql" or "name=a.sql+b.sql": one more variant, the project with these applied
    experiments: tuple[str | Path, ...] = ()
    workloads: tuple[str, ...] | None = None  # None: all of WORKLOADS
    output_dir: Path = BENCH_DIR / "results"
    flagged_dir: Path = CHECKOUT_DIR / "target" / "bench-flagged"  # where a run whose references drifted goes
    # variant -> SQL run on its copy after it is installed (a test makes a reference drift on purpose)
    prepare: dict[str, str] = field(default_factory=dict)
    prefix: str = "bench"  # every database the run creates is named <prefix>_…
    keep_databases: bool = False
    reuse_templates: bool = False  # keep the generated worlds and reuse them next time (same shape and generator)
    target_path: str = "target/bench"
    chart: bool = True
    quick: bool = False

    @classmethod
    def quick_options(cls, **overrides) -> BenchOptions:
        """Small sizes for a smoke run (seconds, not minutes): every workload, every check."""
        small = cls(
            deliveries=20_000,
            big_deliveries=40_000,
            rounds=2,
            warmup=1,
            announcements=3,
            announcement_guests=(100, 500),
            single_inserts=10,
            phone_only_inserts=10,
            status_updates=10,
            name_edits=10,
            user_deletes=2,
            bulk_link_guests=200,
            bulk_link_rounds=2,
            single_links=10,
            audit_attempts=1_000,
            integrity_rounds=2,
            backfill_rounds=1,
            backfill_batch_size=500,
            quick=True,
        )
        return replace(small, **overrides)


@dataclass
class Variant:
    name: str
    description: str
    experiment: tuple[Path, ...] | None = None  # SQL files applied, in order, on top of the project's deploy


@dataclass
class Context:
    console: Console
    options: BenchOptions
    server: connection.ConnectionSettings
    progress: Progress
    checks: list[Check] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    worlds: dict[str, dict] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    storage: list[StorageGrowth] = field(default_factory=list)

    def wanted(self, key: str) -> bool:
        return self.options.workloads is None or key in self.options.workloads

    def name(self, suffix: str) -> str:
        return f"{self.options.prefix}_{suffix}"

    def settings(self, dbname: str) -> connection.ConnectionSettings:
        return self.server.with_database(dbname)


def variants(options: BenchOptions) -> list[Variant]:
    result = [
        Variant(FLOOR, "no linkage"),
        Variant(
            IDEAL_APP,
            "reference: no linkage installed; the app sets user_id in the same INSERT through a join to event_guests"
            " (bench/ideal_app.sql)",
        ),
        Variant(
            MINIMAL_TRIGGER,
            "reference: bench/minimal_trigger.sql, a SECURITY DEFINER BEFORE INSERT trigger copying the active"
            " guest's user_id, no audit, no lock",
        ),
        Variant(PROJECT, "this project, deployed by dbt run-operation deploy"),
        Variant(BASELINE, "bench/baseline_linkage.sql: the runbook's design, straightforward"),
    ]
    for index, spec in enumerate(options.experiments, start=1):
        name, _, files_spec = str(spec).rpartition("=")
        files = [Path(part) for part in files_spec.split("+")]
        if not name:
            name = f"x{index}_" + "_".join(re.sub(r"[^a-z0-9]", "", f.stem.lower())[:12] for f in files)
        name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:40]
        result.append(Variant(name, "project + " + " + ".join(map(str, files)), tuple(files)))
    return result


# --- databases -------------------------------------------------------------------------------------


@contextmanager
def connect(ctx: Context, dbname: str) -> Iterator[psycopg.Connection]:
    with connection.connect(ctx.settings(dbname)) as conn:
        yield conn


def drop(ctx: Context, dbname: str) -> None:
    app_fixture.drop_database(ctx.server, dbname)
    if dbname in ctx.created:
        ctx.created.remove(dbname)


def copy(ctx: Context, template: str, dbname: str) -> None:
    app_fixture.drop_database(ctx.server, dbname)
    app_fixture.create_database(ctx.server, dbname, template=template)
    ctx.created.append(dbname)


def build_world(ctx: Context, dbname: str, deliveries: int) -> dict:
    """A template database holding a generated world, vacuumed and analysed (world_template.build;
    reused when allowed and complete)."""
    shape = synthetic.WorldShape(deliveries=deliveries, seed=ctx.options.seed)
    if not ctx.options.reuse_templates:
        app_fixture.drop_database(ctx.server, dbname)
        ctx.created.append(dbname)
    task = ctx.progress.add_task(f"generate {deliveries:,} deliveries", total=deliveries)

    def report(stage: str, done: int, total: int) -> None:
        if stage == "deliveries":
            ctx.progress.update(task, completed=done)
        elif stage in ("indexes", "vacuum"):
            ctx.progress.update(task, description=f"{stage} of {deliveries:,} deliveries")

    try:
        result = world_template.build(ctx.server, dbname, shape, report)
    except world_template.TemplateError:  # another world of an earlier run under this name: not kept
        if not ctx.options.reuse_templates:
            raise
        app_fixture.drop_database(ctx.server, dbname)
        result = world_template.build(ctx.server, dbname, shape, report)
    with connect(ctx, dbname) as conn:
        app_fixture.user_foreign_keys_set_null(conn)  # the app's own keys: a user's deletion clears its rows
    ctx.progress.update(task, completed=deliveries, description=f"world {deliveries:,} deliveries")
    if result.reused:
        ctx.console.print(f"reusing world {dbname} ({deliveries:,} deliveries)")
    else:
        ctx.timings[f"generate_{dbname}"] = result.total_seconds
    return dict(result.counts) | {"reused": result.reused}


def deploy_project(ctx: Context, dbname: str) -> None:
    """The project's linkage as a user deploys it (indexes built inline, whatever the table size)."""
    result = dbt_runner.run_dbt(
        ["run-operation", "deploy"],
        ctx.settings(dbname),
        variables=dbt_variables(),
        target_path=ctx.options.target_path,
        extra_env={"DBT_SCHEMA": DBT_SCHEMA},
    )
    result.check()


def dbt_variables() -> dict:
    return {"linkage_inline_index_max_rows": 10**12}


def build_integrity_models(ctx: Context, dbname: str) -> None:
    result = dbt_runner.run_dbt(
        ["run", "--select", "+delivery_integrity", "+daily_integrity_check"],  # the psql script reads the latter
        ctx.settings(dbname),
        variables=dbt_variables(),
        target_path=ctx.options.target_path,
        extra_env={"DBT_SCHEMA": DBT_SCHEMA},
    )
    result.check()


def install(ctx: Context, dbname: str, variant: Variant) -> None:
    if variant.name == FLOOR:
        pass
    elif variant.name == IDEAL_APP:
        bench_workloads.ideal_app_statements()  # nothing to install: its statements must be readable
    elif variant.name == MINIMAL_TRIGGER:
        app_fixture.execute_script(ctx.settings(dbname), MINIMAL_TRIGGER_SQL.read_text())
    elif variant.name == BASELINE:
        baseline = app_fixture.runbook_feature_flags_sql() + BASELINE_SQL.read_text()
        app_fixture.execute_script(ctx.settings(dbname), baseline)
    else:
        deploy_project(ctx, dbname)
        for path in variant.experiment or ():
            app_fixture.execute_script(ctx.settings(dbname), path.read_text())
    if variant.name in ctx.options.prepare:
        app_fixture.execute_script(ctx.settings(dbname), ctx.options.prepare[variant.name])
    with connect(ctx, dbname) as conn:
        conn.execute("analyze")


# --- integrity -------------------------------------------------------------------------------------


def cron_script_query() -> str | None:
    """The query of scripts/daily-delivery-integrity-check.sql (psql variables filled in), if it is there."""
    if not CRON_SCRIPT.exists():
        return None
    text = CRON_SCRIPT.read_text()
    match = re.search(r"^with\b.*?(?=^\\gset)", text, flags=re.S | re.M)
    if not match:
        return None
    return match.group(0).replace(":'critical_pct'", "'1.0'").replace(':"marts_schema"', f'"{DBT_SCHEMA}"')


def integrity_workload(ctx: Context, dbname: str, key: str, deliveries: int) -> Workload:
    """The delivery_integrity model (its view) against the runbook's daily query, alternately."""
    queries = {
        "runbook": RUNBOOK_QUERY_SQL.read_text(),
        PROJECT: f"select * from {DBT_SCHEMA}.delivery_integrity",
    }
    script = cron_script_query()
    if script:
        queries["cron_script"] = script
    # not a check: the lower bound of any exact figure computed at query time
    queries["count_only"] = "select count(*) as total_deliveries from public.message_deliveries"
    label = f"delivery_integrity at {deliveries / 1e6:g}M deliveries"
    workload = Workload(
        key,
        label,
        "runbook",
        "runbook's daily query (naive join)",
        "check",
        TARGETS.get(key),
        {name: [] for name in queries},
    )
    figures: dict[str, dict] = {}
    task = ctx.progress.add_task(label, total=ctx.options.integrity_rounds * len(queries))
    with connect(ctx, dbname) as conn:
        record = bench_workloads.Recorder(workload, {name: conn for name in queries})
        for r in range(ctx.options.integrity_rounds + 1):  # round 0 warms the caches
            for name in bench_workloads.rotate(list(queries), r):
                with record(name, measured=r > 0):
                    cursor = conn.execute(queries[name])
                    row = cursor.fetchone()
                columns = [c.name for c in cursor.description]
                figures[name] = {f: int(row[columns.index(f)]) for f in FIGURES if f in columns}
                if r:
                    ctx.progress.advance(task)
    reference = figures["runbook"]
    same = all(f == {k: reference[k] for k in f} for f in figures.values())
    ctx.checks.append(
        Check(
            f"{label}: identical figures ({', '.join(figures)})",
            same,
            ", ".join(f"{k}={v:,}" for k, v in reference.items()) if same else str(figures),
        )
    )
    workload.extra["figures"] = reference
    workload.extra["speedup"] = {
        name: workload.summaries()["runbook"].median / workload.summaries()[name].median
        for name in queries
        if name != "runbook"
    }
    return workload


# --- the write world -------------------------------------------------------------------------------


def write_path(ctx: Context) -> None:
    options = ctx.options
    template = ctx.name("write_tpl")
    ctx.worlds["write"] = build_world(ctx, template, options.deliveries)
    databases = {v.name: ctx.name(f"write_{v.name}") for v in variants(options)}
    task = ctx.progress.add_task("install variants", total=len(databases))
    for variant in variants(options):
        copy(ctx, template, databases[variant.name])
        install(ctx, databases[variant.name], variant)
        ctx.progress.advance(task)

    if ctx.wanted("integrity"):
        build_integrity_models(ctx, databases[PROJECT])
        ctx.workloads.append(integrity_workload(ctx, databases[PROJECT], "integrity_write", options.deliveries))

    conns = {name: connection.connect(ctx.settings(db)) for name, db in databases.items()}
    try:
        rounds, warmup = options.rounds, options.warmup
        plan = bench_workloads.sample_plan(
            conns[FLOOR],
            options.seed,
            options.announcements,
            options.announcement_guests,
            options.single_inserts,
            options.status_updates * (rounds + warmup),
            options.bulk_link_guests * options.bulk_link_rounds + options.single_links,
            name_edits=options.name_edits * (rounds + warmup),
        )
        ctx.worlds["write"]["link_pool"] = len(plan.link_guests)

        def taking_part(key: str) -> dict[str, psycopg.Connection]:
            return {v: c for v, c in conns.items() if v not in REFERENCES or key in REFERENCE_WORKLOADS}

        def measure(key: str, label: str, total: int | None, function, *args, in_rounds: bool = False, **kwargs):
            if not ctx.wanted(key):
                return None
            task = ctx.progress.add_task(label, total=total)
            result = function(taking_part(key), plan, *args, tick=lambda n: ctx.progress.advance(task, n), **kwargs)
            if total is None:  # known only once done: stop the task's clock
                done = next(t.completed for t in ctx.progress.tasks if t.id == task)
                ctx.progress.update(task, total=done, completed=done)
            if in_rounds:  # each measured round runs the same operations (read by the drift rules)
                result[0].extra["rounds"] = rounds
            ctx.workloads.append(result[0])
            ctx.checks.extend(result[1])
            return result

        def measure_in_rounds(key: str, label: str, per_round: int, function, *args):
            """A workload of the same operations every round: `warmup` rounds, then `rounds` measured."""
            total = per_round * (rounds + warmup)
            return measure(key, label, total, function, rounds, warmup, *args, target=TARGETS[key], in_rounds=True)

        workloads = bench_workloads
        measure_in_rounds(
            "announcement_sends", "announcement sends", len(plan.announcements), workloads.announcement_sends
        )
        storage = measure(
            "audit_storage",
            "sends to linked guests (audit bytes)",
            None,
            workloads.audit_storage,
            options.audit_attempts,
            exclude_schemas=(DBT_SCHEMA,),
        )
        if storage:
            ctx.storage.extend(storage[2])
        measure_in_rounds("single_inserts", "single-row inserts", len(plan.single_guests), workloads.single_inserts)
        phone_plan = replace(plan, single_guests=plan.single_guests[: options.phone_only_inserts])
        if ctx.wanted("single_inserts_phone_only"):
            task = ctx.progress.add_task("phone-only inserts", total=len(phone_plan.single_guests) * (rounds + warmup))
            workload, checks = workloads.single_inserts(
                taking_part("single_inserts_phone_only"),
                phone_plan,
                rounds,
                warmup,
                tick=lambda n: ctx.progress.advance(task, n),
                target=None,
                phone_only=True,
            )
            workload.extra["rounds"] = rounds
            ctx.workloads.append(workload)
            ctx.checks.extend(checks)
        measure_in_rounds(
            "status_updates", "status updates", len(plan.status_ids) // (rounds + warmup), workloads.status_updates
        )
        measure_in_rounds(
            "guest_name_edits",
            "guest name edits",
            len(plan.name_edit_guests) // (rounds + warmup),
            workloads.guest_name_edits,
        )
        measure_in_rounds(
            "user_deletes",
            f"user deletions ({options.user_delete_deliveries:,} deliveries each)",
            options.user_deletes,
            workloads.user_deletes,
            options.user_deletes,
            options.user_delete_deliveries,
            options.user_delete_events,
        )
        bulk = measure(
            "bulk_guest_link",
            "bulk guest link",
            options.bulk_link_rounds,
            workloads.bulk_guest_link,
            options.bulk_link_guests,
            options.bulk_link_rounds,
            target=TARGETS["bulk_guest_link"],
        )
        used = bulk[2] if bulk else options.bulk_link_guests * options.bulk_link_rounds
        singles = max(0, min(options.single_links, len(plan.link_guests) - used))
        measure("single_guest_links", "single guest links", singles, workloads.single_guest_links, used, singles, 1)
    finally:
        for conn in conns.values():
            conn.close()
    if not options.keep_databases:
        for db in databases.values():
            drop(ctx, db)


# --- the big world: integrity at scale, historical backfill -----------------------------------------


def unlinked_count(conn: psycopg.Connection) -> int:
    return conn.execute("select count(*) from public.message_deliveries where user_id is null").fetchone()[0]


def batched_backfill(ctx: Context, dbname: str, label: str) -> dict:
    """The historical backfill as `linkage backfill` runs it: batches of backfill_deliveries_batch over
    delivery ids, one transaction each, until none is left."""
    with connect(ctx, dbname) as conn:
        total = unlinked_count(conn)
        task = ctx.progress.add_task(label, total=total)
        # the project keeps its machinery in its private schema, the baseline in public
        function = conn.execute(
            "select coalesce(to_regproc('delivery_linkage.backfill_deliveries_batch'),"
            " to_regproc('public.backfill_deliveries_batch'))::text"
        ).fetchone()[0]
        batches: list[float] = []
        linked = 0
        started = time.perf_counter()
        after = None
        while True:
            batch_started = time.perf_counter()
            last_id, scanned, batch_linked, _ = conn.execute(
                f"select * from {function}(%s, %s, false)", (after, ctx.options.backfill_batch_size)
            ).fetchone()
            batches.append(time.perf_counter() - batch_started)
            if not scanned:
                break
            linked += batch_linked
            after = last_id
            ctx.progress.advance(task, scanned)
        seconds = time.perf_counter() - started
        inconsistent_after = invariants.linkable_null_count(conn)
    return {
        "seconds": seconds,
        "linked": linked,
        "batches": len(batches),
        "batch_seconds": batches,
        "longest_batch_seconds": max(batches),
        "inconsistent_after": inconsistent_after,
    }


def set_based_update(ctx: Context, dbname: str) -> dict:
    with connect(ctx, dbname) as conn:
        started = time.perf_counter()
        linked = conn.execute(
            """
            update public.message_deliveries as delivery
            set user_id = guest.user_id
            from public.event_guests as guest
            where delivery.guest_id = guest.id
              and delivery.user_id is null
              and guest.user_id is not null
              and guest.removed_at is null
            """
        ).rowcount
        return {"seconds": time.perf_counter() - started, "linked": linked}


def baseline_backfill(ctx: Context, dbname: str) -> dict:
    """The straightforward historical backfill: the per-guest function for every linkable guest."""
    with connect(ctx, dbname) as conn:
        started = time.perf_counter()
        linked = conn.execute(
            """
            select coalesce(sum(public.backfill_guest_deliveries(guest.id, guest.user_id)), 0)
            from public.event_guests as guest
            where guest.user_id is not null and guest.removed_at is null
              and exists (select 1 from public.message_deliveries as delivery
                          where delivery.guest_id = guest.id and delivery.user_id is null)
            """
        ).fetchone()[0]
        return {"seconds": time.perf_counter() - started, "linked": int(linked)}


def big_world(ctx: Context) -> None:
    options = ctx.options
    bare = ctx.name("big_tpl")
    ctx.worlds["big"] = build_world(ctx, bare, options.big_deliveries)
    project_template = ctx.name("big_project_tpl")
    copy(ctx, bare, project_template)
    install(ctx, project_template, Variant(PROJECT, ""))
    build_integrity_models(ctx, project_template)
    ctx.workloads.append(integrity_workload(ctx, project_template, "integrity_big", options.big_deliveries))

    with connect(ctx, project_template) as conn:
        linkable = invariants.linkable_null_count(conn)
    workload = Workload(
        "historical_backfill",
        f"historical backfill ({linkable:,} linkable deliveries)",
        "set_based",
        "one set-based UPDATE, no audit",
        "run",
        TARGETS["historical_backfill"],
        {"set_based": [], PROJECT: []},
    )
    runs: list[dict] = []
    experiments = {v.name: v for v in variants(options) if v.experiment}
    batched = [PROJECT, *experiments]
    # the baseline takes part in the same rounds, from a template of its own (its design installed)
    baseline_template = ctx.name("big_baseline_tpl") if options.baseline_backfill else None
    if baseline_template:
        copy(ctx, bare, baseline_template)
        install(ctx, baseline_template, Variant(BASELINE, ""))
    for r in range(options.backfill_rounds):
        for name in bench_workloads.rotate(["set_based", *batched, *([BASELINE] if baseline_template else [])], r):
            db = ctx.name("big_backfill")
            copy(ctx, baseline_template if name == BASELINE else project_template, db)
            if name in experiments:
                for path in experiments[name].experiment:
                    app_fixture.execute_script(ctx.settings(db), path.read_text())
            if name in batched:
                result = batched_backfill(ctx, db, f"historical backfill, {name}, round {r + 1}")
            elif name == BASELINE:
                with ctx.progress.console.status("baseline: per-guest backfill function for every linkable guest…"):
                    result = baseline_backfill(ctx, db)
            else:
                with ctx.progress.console.status("one set-based UPDATE…"):
                    result = set_based_update(ctx, db)
            drop(ctx, db)
            workload.samples.setdefault(name, []).append(result["seconds"])
            runs.append({"variant": name, **{k: v for k, v in result.items() if k != "batch_seconds"}})
            if name in batched:
                runs[-1]["batch_summary"] = asdict(bench_report.Summary.of(result["batch_seconds"]))
    if baseline_template and not options.keep_databases:
        drop(ctx, baseline_template)
    project_runs = [run for run in runs if run["variant"] == PROJECT]
    longest = max(run["longest_batch_seconds"] for run in project_runs)
    workload.extra = {
        "linkable": linkable,
        "batch_size": options.backfill_batch_size,
        "runs": runs,
        "longest_batch_seconds": longest,
        "longest_batch_seconds_by_variant": {
            name: max(run["longest_batch_seconds"] for run in runs if run["variant"] == name) for name in batched
        },
        "throughput_per_second": {run["variant"]: run["linked"] / run["seconds"] for run in runs},
    }
    ctx.workloads.append(workload)
    linked = {run["variant"]: run["linked"] for run in runs}
    ctx.checks.append(
        Check(
            "historical backfill: same deliveries linked by the backfill and one UPDATE",
            len(set(linked.values())) == 1 and linked[PROJECT] == linkable,
            str(linked),
        )
    )
    ctx.checks.append(
        Check(
            "historical backfill: nothing linkable left",
            all(run["inconsistent_after"] == 0 for run in runs if run["variant"] in batched),
            f"{linkable:,} linkable before",
        )
    )
    ctx.worlds["big"]["linkable_null"] = linkable
    if not options.keep_databases:
        drop(ctx, project_template)


# --- machine, report -------------------------------------------------------------------------------


def machine(ctx: Context) -> dict:
    with connect(ctx, "postgres") as conn:
        version = conn.execute("select version()").fetchone()[0]
        settings = dict(
            conn.execute(
                """
            select name, setting || coalesce(' ' || unit, '') from pg_settings
            where name in ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'synchronous_commit',
                           'fsync', 'max_wal_size', 'jit', 'track_functions')
            """
            ).fetchall()
        )
    memory = None
    if Path("/proc/meminfo").exists():
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        memory = f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else None
    cpu = None
    if Path("/proc/cpuinfo").exists():
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1).strip() if match else None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "platform": platform.platform(),
        "postgres": version,
        "server": ctx.server.describe(),
        "settings": settings,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def drift(workloads: list[Workload]) -> dict:
    """The drift rules, each evaluation, and whether the run is flagged (and why)."""
    checks = bench_report.drift_checks(workloads)
    failed = [c for c in checks if not c.passed]
    return {
        "rules": bench_report.DRIFT_RULES,
        "checks": [asdict(c) for c in checks],
        "flagged": bool(failed),
        "reasons": [c.text() for c in failed],
    }


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])


def document(ctx: Context, started: datetime, machine_info: dict, extras: list[str]) -> dict:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(ctx.options).items()}
    options["experiments"] = [str(p) for p in ctx.options.experiments]
    project_storage = next((g for g in ctx.storage if g.variant == PROJECT), None)
    return {
        "generated_at": started.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "command": command_line(),
        "machine": machine_info | {"load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "drift": drift(ctx.workloads),
        "options": options,
        "variants": {v.name: v.description for v in variants(ctx.options)},
        "experiments": extras,
        "worlds": ctx.worlds,
        "workloads": [w.as_dict() for w in ctx.workloads],
        "audit_storage": {
            "method": AUDIT_STORAGE_METHOD,
            "target_table_bytes_per_attempt": AUDIT_TABLE_BYTES_PER_ATTEMPT,
            "variants": {g.variant: g.as_dict() for g in ctx.storage},
        },
        "checks": [asdict(c) for c in ctx.checks],
        "targets_met": {w.key: w.met() for w in ctx.workloads if w.target is not None}
        | (
            {"audit_table_bytes_per_attempt": project_storage.met(AUDIT_TABLE_BYTES_PER_ATTEMPT)}
            if project_storage
            else {}
        ),
        "max_batch_seconds": MAX_BATCH_SECONDS,
        "longest_backfill_batch_ok": next(
            (
                w.extra["longest_batch_seconds"] <= MAX_BATCH_SECONDS
                for w in ctx.workloads
                if w.key == "historical_backfill"
            ),
            None,
        ),
        "timings": ctx.timings,
    }


def publish_dir(options: BenchOptions, flagged: bool) -> Path:
    """Where the results go: the published place, or, for a run whose references drifted, target/."""
    return options.flagged_dir if flagged else options.output_dir


def publish_figures(console: Console, options: BenchOptions, result: dict) -> None:
    """A full run published in bench/results/ writes its figures into README.md and bench/README.md
    (doc_blocks); a quick, partial (some workloads) or flagged run does not."""
    if (
        options.quick
        or options.workloads is not None
        or result["drift"]["flagged"]
        or options.output_dir.resolve() != doc_blocks.RESULTS_DIR.resolve()
    ):
        return
    for path in doc_blocks.publish("make bench", result):
        console.print(f"updated {path} (between the make bench markers)")


def run(console: Console, options: BenchOptions | None = None) -> dict:
    """Run the benchmark; print the table; write JSON (and the chart) and, when published, the figures in
    README.md and bench/README.md. Returns the JSON document."""
    options = options or BenchOptions()
    started = datetime.now(UTC)
    server = connection.resolve("postgres")
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    ctx = Context(console, options, server, progress)
    machine_info = machine(ctx)
    extras = [v.name for v in variants(options) if v.experiment is not None]
    console.print(
        f"benchmark on {server.describe()}: {machine_info['nproc']} CPUs, {machine_info['memory']}, "
        f"{machine_info['postgres'].split(' on ')[0]}"
    )
    try:
        with progress:
            phase = time.perf_counter()
            write_path(ctx)
            ctx.timings["write_world"] = time.perf_counter() - phase
            phase = time.perf_counter()
            if ctx.wanted("big_world") and options.big_deliveries > 0:
                big_world(ctx)
            ctx.timings["big_world"] = time.perf_counter() - phase
    finally:
        if not options.keep_databases:
            for dbname in list(ctx.created):
                drop(ctx, dbname)
    result = document(ctx, started, machine_info, extras)
    console.print(bench_report.figure_table(ctx.workloads, extras))
    if ctx.storage:
        console.print(bench_report.storage_table(ctx.storage, AUDIT_TABLE_BYTES_PER_ATTEMPT))
    backfill = next((w for w in ctx.workloads if w.key == "historical_backfill"), None)
    if backfill is not None:
        longest = backfill.extra["longest_batch_seconds"]
        console.print(
            f"historical backfill: longest batch (locks held) {longest:.2f} s at batch size "
            f"{options.backfill_batch_size} — target ≤ {MAX_BATCH_SECONDS:g} s "
            f"{'[green]met[/]' if longest <= MAX_BATCH_SECONDS else '[red]missed[/]'}; throughput "
            + ", ".join(f"{k} {v:,.0f}/s" for k, v in backfill.extra["throughput_per_second"].items())
        )
    failed = [c for c in ctx.checks if not c.passed]
    console.print(f"checks: {len(ctx.checks) - len(failed)} of {len(ctx.checks)} passed")
    for check in failed:
        console.print(f"  [red]FAILED[/] {check.name}: {check.detail}")
    start_load, end_load = result["machine"]["load_average_start"], result["machine"]["load_average_end"]
    if start_load and end_load:
        console.print(
            f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in start_load)} before, "
            f"{' '.join(f'{x:.2f}' for x in end_load)} after, on {machine_info['nproc']} CPUs"
        )
    console.print(bench_report.drift_table([bench_report.DriftCheck(**c) for c in result["drift"]["checks"]]))
    for rule, text in bench_report.DRIFT_RULES.items():
        console.print(f"  [dim]{rule}: {text}[/]")
    output_dir = publish_dir(options, result["drift"]["flagged"])
    if result["drift"]["flagged"]:
        console.print(
            f"[bold red]FLAGGED[/]: a reference drifted, so this run is not published in {options.output_dir}:"
        )
        for reason in result["drift"]["reasons"]:
            console.print(f"  [red]{reason}[/]")
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "latest.json"
    bench_report.write_json(json_path, result)
    console.print(f"wrote {json_path}")
    if options.chart:
        png = output_dir / "latest.png"
        title = (
            f"delivery_linkage benchmark {started:%Y-%m-%d}: {machine_info['nproc']} CPUs, "
            f"{machine_info['memory']}, {machine_info['postgres'].split(' on ')[0]}"
            + (" — FLAGGED: a reference drifted" if result["drift"]["flagged"] else "")
        )
        project_storage = next((g for g in ctx.storage if g.variant == PROJECT), None)
        if project_storage is not None:
            title += (
                f"\naudit: project {project_storage.per_attempt(project_storage.table_bytes):.0f} B of table per"
                f" attempt (target ≤ {AUDIT_TABLE_BYTES_PER_ATTEMPT:g} B)"
            )
        legend = {name: bench_report.label(name) for name in (*REFERENCES, PROJECT, BASELINE, *extras)}
        if bench_report.write_chart(png, bench_report.chart_rows(result), legend, title):
            console.print(f"wrote {png}")
        else:
            console.print("[yellow]matplotlib is not installed: no chart[/]")
    publish_figures(console, options, result)
    return result
