"""The concurrency benchmark (issue 9, "Measure it"): what the linkage costs an app under contention.

`python -m delivery_linkage_devtools.concurrency` (`make concurrency`):
1. generates a world from the seed and deploys the linkage into a template database (world.py);
2. plans the workload: K connections, N operations, the app's mix, from the seed (plan.py);
3. runs the same plan three times, each on its own `CREATE DATABASE … TEMPLATE` copy of the world:
   `control` with every linkage trigger disabled; `minimal_trigger`, the same with
   bench/minimal_trigger.sql installed (the least a trigger can do to link at insert: the limit of
   any trigger design under the same contention); and `linkage` as deployed, with the sweeper
   running beside it every second (runner.py, sweeping.py);
4. at quiescence (in the linkage run, after the sweeper has emptied its queue) checks the invariants
   (invariants.py; the linkage run its own stricter ones too: each insert audited, each link's latest
   audit row, users its guests had, notes gone, the audit's vocabulary) and reports the three runs
   side by side, with issue 15's targets judged on the linkage run against the minimal trigger's:
   JSON, a table, and a markdown summary with the command, the machine and its load (report.py).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console

from delivery_linkage.database import connection
from delivery_linkage_devtools import CHECKOUT_DIR, app_fixture, doc_blocks
from delivery_linkage_devtools.concurrency import invariants, plan, report, runner, world
from delivery_linkage_devtools.concurrency.report import CONTROL, LINKAGE, MINIMAL_TRIGGER

OUTPUT_DIR = CHECKOUT_DIR / "bench" / "results"
MINIMAL_TRIGGER_SQL = CHECKOUT_DIR / "bench" / "minimal_trigger.sql"

Prepare = Callable[[psycopg.Connection], None]


@dataclass
class ConcurrencyOptions:
    operations: int = 100_000
    connections: int = 6
    seed: int = 1
    shape: world.WorldShape = field(default_factory=world.WorldShape)
    run: runner.RunSettings = field(default_factory=runner.RunSettings)
    variants: tuple[str, ...] = (CONTROL, MINIMAL_TRIGGER, LINKAGE)  # run in this order
    mix: dict[str, float] = field(default_factory=dict)  # weights overriding plan.MIX (an experiment)
    prefix: str = "concurrency"
    keep_databases: bool = False
    output_dir: Path | None = OUTPUT_DIR
    output_name: str = "concurrency"
    command: str = ""

    @classmethod
    def quick(cls, **overrides) -> ConcurrencyOptions:
        """A couple of thousand operations on a small world: seconds, for the tests."""
        seed = overrides.get("seed", 1)
        values = {"operations": 2000, "connections": 4, "shape": world.WorldShape.quick(seed), "output_dir": None}
        values.update(overrides)
        return cls(**values)


def machine(conn: psycopg.Connection) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{total_kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    settings = dict(
        conn.execute(
            "select name, setting || coalesce(unit, '') from pg_settings "
            "where name in ('deadlock_timeout', 'max_connections', 'shared_buffers', 'synchronous_commit')"
        ).fetchall()
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "server_version": conn.execute("show server_version").fetchone()[0],
        "deadlock_timeout": settings.get("deadlock_timeout"),
        "server_settings": settings,
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def run(
    options: ConcurrencyOptions,
    server: connection.ConnectionSettings | None = None,
    prepare: dict[str, Prepare] | None = None,
    console: Console | None = None,
) -> dict:
    """Builds the world, runs the variants, checks, reports. `prepare[variant]` is applied to that run's
    database before it starts (the tests use it to sabotage a deployment)."""
    console = console or Console(stderr=True)
    server = server or connection.resolve("postgres")
    prepare = prepare or {}
    tag = uuid.uuid4().hex[:8]
    template = f"{options.prefix}_{tag}_world"
    created = [template]
    plans = None
    try:
        started = time.perf_counter()
        console.print(f"concurrency: building the world (seed {options.shape.seed}) and deploying the linkage…")
        generated = world.build_template(server, template, options.shape, target_path=f"target/{options.prefix}")
        plans = plan.plan(generated, options.seed, options.connections, options.operations, options.mix)
        with connection.connect(server.with_database(template)) as conn:
            invariants.record_guest_history(conn, generated, plans)
        seeds = [plan.connection_seed(options.seed, i) for i in range(options.connections)]
        digests = [plan.digest(p) for p in plans]
        console.print(
            f"concurrency: seed {options.seed}; connection seeds {seeds}; plan digests {digests} "
            f"(world built in {time.perf_counter() - started:.0f} s)"
        )
        with connection.connect(server) as conn:
            about = machine(conn)
        result: dict = {
            "command": options.command,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": options.seed,
            "connection_seeds": seeds,
            "plan_digests": digests,
            "operations": options.operations,
            "connections": options.connections,
            "world": {**asdict(options.shape), "guests": generated.guest_count},
            "mix_overrides": dict(options.mix),
            "settings": asdict(options.run),
            "machine": about,
            "variants_order": list(options.variants),
            "runs": {},
        }
        for variant in options.variants:
            dbname = f"{options.prefix}_{tag}_{variant}"
            app_fixture.create_database(server, dbname, template=template)
            created.append(dbname)
            settings = server.with_database(dbname)
            result["runs"][variant] = run_variant(
                console, settings, variant, plans, options, prepare.get(variant), generated
            )
            result["runs"][variant]["database"] = dbname
            result["runs"][variant]["plan_digests"] = digests
        if MINIMAL_TRIGGER in result["runs"] and LINKAGE in result["runs"]:
            result["targets"] = report.targets(result["runs"])
        result["drift"] = report.drift(result["runs"])
        result["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        report.print_table(console, result)
        if options.output_dir:
            json_path, md_path = report.write(result, options.output_dir, options.output_name)
            console.print(f"concurrency: results in {json_path} and {md_path}")
            publish_figures(console, options, result)
        return result
    finally:
        if not options.keep_databases:
            for dbname in created:
                app_fixture.drop_database(server, dbname)


def publish_figures(console: Console, options: ConcurrencyOptions, result: dict) -> None:
    """The published run (`make concurrency`: bench/results/concurrency.json) writes its figures into
    README.md and bench/CONCURRENCY.md (doc_blocks); a quick or differently named run does not."""
    if (
        options.mix
        or options.output_name != "concurrency"
        or options.output_dir.resolve() != doc_blocks.RESULTS_DIR.resolve()
    ):
        return
    for path in doc_blocks.publish("make concurrency", result):
        console.print(f"concurrency: updated {path} (between the make concurrency markers)")


def run_variant(
    console: Console, settings, variant: str, plans, options: ConcurrencyOptions, prepare, generated: world.World
) -> dict:
    with connection.connect(settings) as conn:
        disabled = world.disable_linkage_triggers(conn) if variant in (CONTROL, MINIMAL_TRIGGER) else []
        if variant == MINIMAL_TRIGGER:
            conn.execute(MINIMAL_TRIGGER_SQL.read_text())
            conn.execute("analyze")
        if prepare:
            prepare(conn)
        triggers = [f"{t}.{name} ({state})" for t, name, state in world.linkage_triggers(conn)]
        audit_before = conn.execute("select count(*) from public.user_link_audit").fetchone()[0]
    total = sum(len(p) for p in plans)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 15:
            last[0] = now
            console.print(f"  {variant}: {done:,}/{total:,} operations")

    console.print(f"concurrency: {variant} run, {total:,} operations on {len(plans)} connections…")
    outcome = runner.execute(settings, plans, options.run, progress=progress, sweep=variant == LINKAGE)
    figures = report.summarise(outcome)
    with connection.connect(settings) as conn:
        invariants.record_app_links(conn, [link for w in outcome.workers for link in w.app_links])
        figures["invariants"] = invariants.check(conn)
        if variant == LINKAGE:
            history = [m for messages in generated.history_messages.values() for m in messages]
            own = figures["invariants"]["linkage_run"] = invariants.check_linkage_run(conn, history)
            figures["invariants"]["total"] += own["total"]
        figures["audit_rows_written"] = (
            conn.execute("select count(*) from public.user_link_audit").fetchone()[0] - audit_before
        )
    figures["disabled_triggers"] = disabled
    figures["triggers"] = triggers
    stayed = figures["linkable_null"]
    console.print(
        f"concurrency: {variant} done in {figures['seconds']:.0f} s, {figures['committed']:,} committed, "
        f"invariant violations {figures['invariants']['total']}; longest linkable but NULL "
        f"{stayed['longest_observed_s']:.2f} s observed (≤ {stayed['longest_bound_s']:.2f} s)"
        + (
            f"; sweeper {figures['sweeper']['passes']} passes, queue emptied in "
            f"{figures['sweeper']['drain_passes']} more"
            if figures["sweeper"]
            else ""
        )
    )
    return figures


def command_line() -> str:
    return " ".join(["python -m delivery_linkage_devtools.concurrency", *(shlex.quote(a) for a in sys.argv[1:])])
