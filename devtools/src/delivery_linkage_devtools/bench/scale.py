"""`make bench-scale` (`linkage bench-scale`): the data team's hourly work at production scale.

For each size (10M and 100M deliveries, the production shape of synthetic.py), on a copy of a generated
world kept as a template (world_template; the 100M one is built once and reused):
- adoption, once: the deploy (`dbt run-operation deploy`) and `linkage indexes`, then a first `dbt build`;
- the integrity figures as the data team reads them (the delivery_integrity and daily_integrity_check
  models), beside the references: the runbook's daily query (bench/runbook_daily_query.sql), the original
  cron script's query (tests/adoption/sql/original_daily_integrity_check.sql, rebuilt from the real app's
  scripts/daily-delivery-integrity-check.sql) and this project's cron script (`psql -f
  scripts/daily-delivery-integrity-check.sql`), in rotating order, `rounds` times; `linkage check` and
  `linkage report` likewise (the commands, as cron runs them);
- `dbt build` while the app sends and links (two connections at a steady pace), with the same traffic for
  as long with no build before and after it: the app's latency (p50/p99) with and without the build,
  and its lock waits longer than 10 ms (the app's sessions run with lock_timeout = 10ms: a longer wait
  fails, and is counted, instead of waiting); the build's wall time, each model's and test's time (dbt's
  run_results.json), the server's peak memory (the proportional set size of all its processes, sampled)
  and its temporary files (pg_stat_database);
- checks: the models' figures identical to the runbook query's; the build's nodes all pass or warn.
The machine, the server's settings and the load average at the start and end of each size are recorded.
Results: bench/results/scale.json and bench/SCALE.md (written by the run), and the headline figures in
README.md between the bench-scale markers.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage.operations import indexes as index_operations
from delivery_linkage_devtools import CHECKOUT_DIR, app_fixture, markers, synthetic, world_template
from delivery_linkage_devtools.bench import results as bench_results
from delivery_linkage_devtools.bench import workloads as bench_workloads

BENCH_DIR = CHECKOUT_DIR / "bench"
README = CHECKOUT_DIR / "README.md"
RUNBOOK_QUERY_SQL = BENCH_DIR / "runbook_daily_query.sql"
ORIGINAL_CRON_SQL = CHECKOUT_DIR / "tests" / "adoption" / "sql" / "original_daily_integrity_check.sql"
CRON_SCRIPT = CHECKOUT_DIR / "scripts" / "daily-delivery-integrity-check.sql"
DBT_SCHEMA = "linkage"
FIGURES = ("total_deliveries", "inconsistent_deliveries")  # what the data team reads every hour, exact
README_BLOCK = "bench-scale"  # the README's block (markers.py, the one writer of generated blocks)
README_BEGIN = markers.begin(README_BLOCK, "make bench-scale")
README_END = markers.end(README_BLOCK)
LOCK_WAIT_LIMIT = "10ms"
UNLINKED_INDEX = "message_deliveries_unlinked_guest_id_idx"  # the deploy's partial index (user_id is null)

# issue 16's targets, at 100M deliveries
TARGETS = {
    "integrity_figures": (0.2, "≤ 1/5 of the runbook's daily query"),
    "dbt_build": (3.0, "≤ 3× one runbook daily query"),
    "send_p99_during_build": (1.2, "≤ 1.2× the send p99 with no build"),
    "generate_seconds": (1800.0, "100M deliveries in under 30 minutes"),
}


@dataclass
class ScaleOptions:
    sizes: tuple[int, ...] = (10_000_000, 100_000_000)
    rounds: int = 3  # measured rounds of each query and command (after one warm-up round)
    seed: int = 42
    jobs: int = 2  # template build
    send_period: float = 0.5  # seconds between the app's sends (one connection)
    link_period: float = 1.0  # seconds between the app's guest links (another connection)
    quiet_seconds: float | None = None  # traffic with no build, before and after it (None: as long as the first build)
    max_quiet_seconds: float = 240.0
    output_dir: Path = BENCH_DIR / "results"
    markdown: Path | None = BENCH_DIR / "SCALE.md"
    readme: Path | None = README
    template_prefix: str = "bench_scale_world"
    work_database: str = "bench_scale_work"
    keep_work: bool = False
    target_path: str = "target/bench-scale"
    dbt_timeout: float = 4 * 3600
    command: str = "make bench-scale"

    @classmethod
    def quick(cls, **overrides) -> ScaleOptions:
        """A smoke run in a couple of minutes: one tiny world, one round; results under target/."""
        small = cls(
            sizes=(200_000,),
            rounds=1,
            send_period=0.2,
            link_period=0.3,
            quiet_seconds=3.0,
            output_dir=CHECKOUT_DIR / "target" / "bench-scale-quick",
            markdown=None,
            readme=None,
            template_prefix="bench_scale_quick_world",
            work_database="bench_scale_quick_work",
            target_path="target/bench-scale-quick",
            command="linkage bench-scale --quick",
        )
        return cls(**(asdict(small) | overrides))


def size_label(deliveries: int) -> str:
    if deliveries >= 1_000_000 and deliveries % 1_000_000 == 0:
        return f"{deliveries // 1_000_000}M"
    if deliveries >= 1000 and deliveries % 1000 == 0:
        return f"{deliveries // 1000}k"
    return str(deliveries)


# --- measuring -----------------------------------------------------------------------------------------


def summary(values: list[float]) -> dict:
    return asdict(bench_results.Summary.of(values))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class ServerMemory(threading.Thread):
    """Samples the memory of every process of the server (the postmaster and its children) while it runs:
    the sum of their proportional set sizes (shared memory counted once in total) and the largest single
    process's resident set. Only when the server runs on this machine (else `available` is False)."""

    def __init__(self, backend_pid: int, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.postmaster = _parent_pid(backend_pid)
        self.available = self.postmaster is not None and _smaps(self.postmaster) is not None
        self.peak_pss = 0
        self.peak_process_rss = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while self.available and not self._halt.is_set():
            total = 0
            for pid in [self.postmaster, *_children(self.postmaster)]:
                sizes = _smaps(pid)
                if sizes:
                    total += sizes["Pss"]
                    self.peak_process_rss = max(self.peak_process_rss, sizes["Rss"])
            self.peak_pss = max(self.peak_pss, total)
            self.samples += 1
            self._halt.wait(self.period)

    def stop(self) -> dict:
        self._halt.set()
        self.join(5)
        if not self.available:
            return {"available": False}
        return {
            "available": True,
            "peak_pss_bytes": self.peak_pss,
            "peak_process_rss_bytes": self.peak_process_rss,
            "samples": self.samples,
            "period_seconds": self.period,
        }


def _parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _smaps(pid: int) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    sizes = {}
    for key in ("Rss", "Pss"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, flags=re.M)
        sizes[key] = int(match.group(1)) * 1024 if match else 0
    return sizes


@dataclass
class Operation:
    kind: str  # send | link
    started: float
    seconds: float
    error: str | None = None  # lock_timeout (a lock wait over the limit) or another error's class


class AppTraffic:
    """The app's writes at a steady pace: one connection sends announcements (a message and a delivery for
    every active guest of an event, one transaction), another links guests to users (the linkage then
    links the guest's deliveries), each with lock_timeout = LOCK_WAIT_LIMIT. Events sent to and guests
    linked are disjoint, so the app never waits on itself."""

    def __init__(self, settings: connection.ConnectionSettings, options: ScaleOptions, seed: int) -> None:
        self.settings, self.options = settings, options
        with connection.connect(settings) as conn:
            self.events = [
                (event_id, guests, phones)
                for event_id, guests, phones in conn.execute(
                    """
                    select event_id, array_agg(id order by id), array_agg(phone order by id)
                    from public.event_guests where removed_at is null
                    group by event_id order by md5(event_id::text || %s) limit 50
                    """,
                    (seed,),
                )
            ]
            # half the events take the sends, the others give the guests to link
            self.events = self.events[: max(1, len(self.events) // 2)]
            send_events = [event_id for event_id, _, _ in self.events]
            self.link_guests = [
                row[0]
                for row in conn.execute(
                    """
                    select id from public.event_guests
                    where user_id is null and removed_at is null and event_id <> all(%s)
                    order by md5(id::text || %s) limit 20000
                    """,
                    (send_events, seed),
                )
            ]
            self.users = [
                row[0]
                for row in conn.execute("select id from public.users order by md5(id::text || %s) limit 1000", (seed,))
            ]
        self.operations: list[Operation] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent = 0
        self._linked = 0

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=("send", self.options.send_period), daemon=True),
            threading.Thread(target=self._loop, args=("link", self.options.link_period), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def window(self, seconds: float) -> list[Operation]:
        """The traffic alone for `seconds`; returns its operations."""
        first = len(self.operations)
        self.start()
        self._stop.wait(seconds)
        self.stop()
        return self.operations[first:]

    def _loop(self, kind: str, period: float) -> None:
        with connection.connect(self.settings) as conn:
            conn.execute(f"set lock_timeout = '{LOCK_WAIT_LIMIT}'")
            next_at = time.perf_counter()
            while not self._stop.is_set():
                if kind == "link" and self._linked >= len(self.link_guests):
                    return
                started = time.perf_counter()
                error = None
                try:
                    with conn.transaction():
                        self._send(conn) if kind == "send" else self._link(conn)
                except psycopg.errors.LockNotAvailable:
                    error = "lock_timeout"
                except psycopg.Error as failure:
                    error = type(failure).__name__
                self.operations.append(Operation(kind, started, time.perf_counter() - started, error))
                next_at += period
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _send(self, conn: psycopg.Connection) -> None:
        event_id, guests, phones = self.events[self._sent % len(self.events)]
        self._sent += 1
        message_id = uuid.uuid4()
        conn.execute(
            "insert into public.messages (id, event_id, body, message_type) values (%s, %s, %s, 'announcement')",
            (message_id, event_id, "bench-scale announcement"),
        )
        conn.execute(bench_workloads.INSERT_MANY, (message_id, guests, phones))

    def _link(self, conn: psycopg.Connection) -> None:
        guest = self.link_guests[self._linked]
        user = self.users[self._linked % len(self.users)]
        self._linked += 1
        conn.execute("update public.event_guests set user_id = %s where id = %s", (user, guest))


def latency(operations: list[Operation]) -> dict:
    by_kind: dict[str, dict] = {}
    for kind in ("send", "link"):
        done = [op.seconds for op in operations if op.kind == kind and op.error is None]
        errors = [op.error for op in operations if op.kind == kind and op.error]
        by_kind[kind] = {
            "operations": len(done) + len(errors),
            "p50_ms": round(percentile(done, 0.5) * 1000, 2) if done else None,
            "p99_ms": round(percentile(done, 0.99) * 1000, 2) if done else None,
            "max_ms": round(max(done) * 1000, 2) if done else None,
            "lock_waits_over_limit": errors.count("lock_timeout"),
            "other_errors": len(errors) - errors.count("lock_timeout"),
        }
    return by_kind


@dataclass
class SizeRun:
    deliveries: int
    label: str
    figures: dict = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    plans: dict = field(default_factory=dict)

    def check(self, name: str, passed: bool, detail: str = "") -> None:
        self.checks.append({"name": name, "passed": bool(passed), "detail": detail})


class Bench:
    def __init__(self, console: Console, options: ScaleOptions) -> None:
        self.console, self.options = console, options
        self.server = connection.resolve("postgres")
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )

    # --- one size ------------------------------------------------------------------------------------

    def size(self, deliveries: int) -> dict:
        options = self.options
        label = size_label(deliveries)
        run = SizeRun(deliveries, label)
        result: dict = {"deliveries": deliveries, "label": label, "load_average_start": list(os.getloadavg())}
        started = time.perf_counter()
        shape = synthetic.WorldShape.production(deliveries, seed=options.seed)
        template = f"{options.template_prefix}_{label.lower()}"
        result["template"] = self.template(template, shape)
        work = options.work_database
        settings = self.server.with_database(work)
        disk = world_template.disk_check(self.server, synthetic.WorldShape.production(0))
        copy_needs = result["template"]["size_bytes"] or world_template.estimate_bytes(shape)
        if disk.free_bytes is not None and disk.free_bytes < copy_needs * 1.2:
            raise world_template.TemplateError(
                f"not enough disk for the working copy of {template}: needs about {world_template.gib(copy_needs)}"
                f" free in {disk.path}, {world_template.gib(disk.free_bytes)} free\n"
                "  fix: drop databases you do not need (`linkage db status`), or run fewer sizes (--sizes 10M)"
            )
        with self.progress.console.status(f"{label}: copying {template} to {work}…"):
            copy_started = time.perf_counter()
            world_template.copy(self.server, template, work)
            result["copy_seconds"] = round(time.perf_counter() - copy_started, 1)
        try:
            result |= self.adopt(settings, label)
            result["queries"] = self.queries(settings, run)
            result["commands"] = self.commands(settings, run)
            result["dbt_build"], result["app"] = self.build_under_traffic(settings, run, result["first_build_seconds"])
            result["queries_after"] = self.queries(settings, run, rounds=1, names=("runbook_daily_query",))
        finally:
            if not options.keep_work:
                app_fixture.drop_database(self.server, work)
        result["load_average_end"] = list(os.getloadavg())
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["ratios"] = ratios(result)
        result["targets"] = targets(result)
        result["checks"] = run.checks
        result["plans"] = run.plans
        return result

    def template(self, name: str, shape: synthetic.WorldShape) -> dict:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self.progress.add_task(f"{name}: {stage}", total=total)
            self.progress.update(tasks[stage], completed=done, total=total)

        built = world_template.build(self.server, name, shape, report, jobs=self.options.jobs)
        seconds = built.seconds
        return {
            "database": name,
            "reused": built.reused,
            "resumed": built.resumed,
            "counts": built.counts,
            "size_bytes": built.size_bytes,
            "build_seconds": {k: round(v, 1) for k, v in seconds.items()},
            "build_total_seconds": round(sum(seconds.values()), 1),
            "deliveries_per_second": round(built.counts["message_deliveries"] / sum(seconds.values()))
            if sum(seconds.values())
            else None,
            "command": f"linkage generate --production --deliveries {shape.deliveries} --template {name}",
        }

    def dbt(self, settings: connection.ConnectionSettings, args: list[str]) -> tuple[dbt_runner.DbtResult, float]:
        started = time.perf_counter()
        result = dbt_runner.run_dbt(
            args,
            settings,
            target_path=self.options.target_path,
            extra_env={"DBT_SCHEMA": DBT_SCHEMA},
            timeout=self.options.dbt_timeout,
        )
        return result, time.perf_counter() - started

    def adopt(self, settings: connection.ConnectionSettings, label: str) -> dict:
        """The first deploy as on a production database (indexes on the large tables deferred), the
        deferred indexes built CONCURRENTLY, then a first build (creates the models' relations)."""
        with self.progress.console.status(f"{label}: deploy (dbt run-operation deploy)…"):
            deployed, deploy_seconds = self.dbt(settings, ["run-operation", "deploy"])
            deployed.check()
        with self.progress.console.status(f"{label}: linkage indexes (CONCURRENTLY)…"):
            started = time.perf_counter()
            with connection.connect(settings) as conn:
                built = index_operations.build_missing(conn, report=lambda line: None)
                conn.execute("analyze")
            indexes_seconds = time.perf_counter() - started
        with self.progress.console.status(f"{label}: first dbt build…"):
            first, first_seconds = self.dbt(settings, ["build"])
            first.check()  # a failed first build says why here, not as a missing relation later
        return {
            "deploy_seconds": round(deploy_seconds, 1),
            "indexes_built": built,
            "indexes_seconds": round(indexes_seconds, 1),
            "first_build_seconds": round(first_seconds, 1),
            "first_build_returncode": first.returncode,
        }

    # --- the figures, beside the references ------------------------------------------------------------

    def query_set(self) -> dict[str, str]:
        return {
            "runbook_daily_query": RUNBOOK_QUERY_SQL.read_text(),
            "original_cron_query": ORIGINAL_CRON_SQL.read_text(),
            "delivery_integrity": f"select * from {DBT_SCHEMA}.delivery_integrity",
            "daily_integrity_check": f"select * from {DBT_SCHEMA}.daily_integrity_check",
        }

    def queries(
        self, settings: connection.ConnectionSettings, run: SizeRun, rounds: int | None = None, names=None
    ) -> dict:
        queries = {k: v for k, v in self.query_set().items() if names is None or k in names}
        rounds = self.options.rounds if rounds is None else rounds
        samples: dict[str, list[float]] = {name: [] for name in queries}
        figures: dict[str, dict] = {}
        task = self.progress.add_task(f"{run.label}: integrity queries", total=(rounds + 1) * len(queries))
        with connection.connect(settings) as conn:
            for r in range(rounds + 1):  # round 0 warms the caches
                for name in bench_workloads.rotate(list(queries), r):
                    started = time.perf_counter()
                    cursor = conn.execute(queries[name])
                    row = cursor.fetchone()
                    if r:
                        samples[name].append(time.perf_counter() - started)
                    columns = [c.name for c in cursor.description]
                    figures[name] = {
                        c: (int(v) if isinstance(v, int) else str(v)) for c, v in zip(columns, row, strict=True)
                    }
                    self.progress.advance(task)
        self.progress.update(task, visible=False)
        if "runbook_daily_query" in figures and names is None:
            reference = {f: figures["runbook_daily_query"][f] for f in FIGURES}
            for name in ("delivery_integrity", "daily_integrity_check"):
                mine = {f: figures[name].get(f) for f in FIGURES}
                run.check(f"{name}: the runbook query's figures", mine == reference, f"{mine} vs {reference}")
            run.figures = figures
            with connection.connect(settings) as conn:
                reads = deliveries_reads(conn, queries["delivery_integrity"])
            heap = [r for r in reads if r["node"] != "Index Only Scan" and r["index"] != UNLINKED_INDEX]
            run.check(
                "delivery_integrity reads no delivery row but through an index-only scan or the partial index"
                f" {UNLINKED_INDEX}",
                not heap,
                json.dumps(reads),
            )
            run.plans["delivery_integrity"] = reads
        return {name: summary(values) | {"figures": figures[name]} for name, values in samples.items() if values}

    def commands(self, settings: connection.ConnectionSettings, run: SizeRun) -> dict:
        """`linkage check`, `linkage report` and the cron script, as cron runs them (a new process each)."""
        linkage = str(Path(sys.executable).with_name("linkage"))
        psql = psql_executable()
        report_path = CHECKOUT_DIR / self.options.target_path / f"report-{run.label}.html"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        commands = {
            "linkage_check": [linkage, "check", "--json"],
            "linkage_report": [linkage, "report", "--out", str(report_path)],
            "cron_script": [psql, "-X", "-q", "-f", str(CRON_SCRIPT)],
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env |= settings.libpq_env() | {"DBT_SCHEMA": DBT_SCHEMA}
        samples: dict[str, list[float]] = {name: [] for name in commands}
        codes: dict[str, int] = {}
        task = self.progress.add_task(f"{run.label}: commands", total=(self.options.rounds + 1) * len(commands))
        for r in range(self.options.rounds + 1):
            for name in bench_workloads.rotate(list(commands), r):
                started = time.perf_counter()
                done = subprocess.run(commands[name], env=env, capture_output=True, text=True, timeout=7200)
                if r:
                    samples[name].append(time.perf_counter() - started)
                codes[name] = done.returncode
                if name == "linkage_check" and r == 1:
                    run.check(
                        "linkage check answered (exit 0, 1 or 2)", done.returncode in (0, 1, 2), done.stderr[-300:]
                    )
                elif name != "linkage_check" and done.returncode != 0:
                    run.check(f"{name} ran", False, done.stderr[-300:])
                self.progress.advance(task)
        self.progress.update(task, visible=False)
        return {
            name: summary(values)
            | {"exit_code": codes[name], "command": shlex.join(commands[name][:1] + commands[name][1:])}
            for name, values in samples.items()
        }

    # --- dbt build while the app writes ---------------------------------------------------------------------

    def build_under_traffic(self, settings, run: SizeRun, first_build_seconds: float) -> tuple[dict, dict]:
        options = self.options
        quiet = options.quiet_seconds or min(options.max_quiet_seconds, max(20.0, first_build_seconds))
        app = AppTraffic(settings, options, options.seed)
        with self.progress.console.status(f"{run.label}: app traffic, no build ({quiet:.0f} s)…"):
            before = app.window(quiet)
        with connection.connect(settings) as conn:
            temp_before = conn.execute(
                "select temp_files, temp_bytes from pg_stat_database where datname = current_database()"
            ).fetchone()
            backend_pid = conn.info.backend_pid
        memory = ServerMemory(backend_pid)
        memory.start()
        first = len(app.operations)
        app.start()
        try:
            with self.progress.console.status(f"{run.label}: dbt build while the app writes…"):
                built, wall = self.dbt(settings, ["build"])
        finally:
            app.stop()
            memory_figures = memory.stop()
        during = app.operations[first:]
        with self.progress.console.status(f"{run.label}: app traffic, no build ({quiet:.0f} s)…"):
            after = app.window(quiet)
        time.sleep(1.5)  # the build's backends have exited; their statistics are flushed
        with connection.connect(settings) as conn:
            temp_after = conn.execute(
                "select temp_files, temp_bytes from pg_stat_database where datname = current_database()"
            ).fetchone()
        nodes = run_results(CHECKOUT_DIR / dbt_runner.target_dir(options.target_path) / "run_results.json")
        failed = [n for n in nodes if n["status"] not in ("success", "pass", "warn", "no op", "no-op")]
        run.check(
            "dbt build: every model and test passes or warns",
            built.returncode == 0 and not failed,
            ", ".join(f"{n['unique_id']} {n['status']}" for n in failed) or built.output[-300:],
        )
        build = {
            "wall_seconds": round(wall, 2),
            "returncode": built.returncode,
            "dbt_elapsed_seconds": nodes_elapsed(CHECKOUT_DIR / dbt_runner.target_dir(options.target_path)),
            "nodes": nodes,
            "models_seconds": round(sum(n["seconds"] for n in nodes if n["resource_type"] == "model"), 2),
            "tests_seconds": round(sum(n["seconds"] for n in nodes if n["resource_type"] == "test"), 2),
            "memory": memory_figures,
            "temp_files": temp_after[0] - temp_before[0],
            "temp_bytes": temp_after[1] - temp_before[1],
        }
        no_build = before + after
        app_figures = {
            "send_period_seconds": options.send_period,
            "link_period_seconds": options.link_period,
            "lock_wait_limit": LOCK_WAIT_LIMIT,
            "quiet_seconds_each_side": round(quiet, 1),
            "no_build": latency(no_build),
            "during_build": latency(during),
        }
        for kind in ("send", "link"):
            waits = app_figures["during_build"][kind]["lock_waits_over_limit"]
            run.check(
                f"no app {kind} waited on a lock for more than {LOCK_WAIT_LIMIT} during dbt build",
                waits == 0,
                f"{waits} of {app_figures['during_build'][kind]['operations']}",
            )
        return build, app_figures


def deliveries_reads(conn: psycopg.Connection, query: str) -> list[dict]:
    """How the plan of `query` reads message_deliveries: one entry per plan node on it (node type and
    index; a bitmap heap scan names the index of its bitmap), from EXPLAIN, without running it."""
    plan = conn.execute("explain (format json) " + query).fetchone()[0][0]["Plan"]
    reads: list[dict] = []

    def bitmap_index(node: dict) -> str | None:
        for child in node.get("Plans", []):
            found = child.get("Index Name") or bitmap_index(child)
            if found:
                return found
        return None

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "message_deliveries":
            index = node.get("Index Name") or (bitmap_index(node) if node["Node Type"] == "Bitmap Heap Scan" else None)
            reads.append({"node": node["Node Type"], "index": index})
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return reads


def psql_executable() -> str:
    from delivery_linkage.database import embedded_server

    candidate = embedded_server.bin_dir() / "psql"
    return str(candidate) if candidate.exists() else "psql"


def run_results(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    nodes = [
        {
            "unique_id": node["unique_id"],
            "resource_type": node["unique_id"].split(".")[0],
            "status": node["status"],
            "seconds": round(node["execution_time"], 3),
        }
        for node in data["results"]
    ]
    return sorted(nodes, key=lambda n: -n["seconds"])


def nodes_elapsed(target: Path) -> float | None:
    data = json.loads((target / "run_results.json").read_text())
    return round(data.get("elapsed_time", 0.0), 2)


def ratios(result: dict) -> dict:
    queries = result.get("queries", {})
    reference = queries.get("runbook_daily_query", {}).get("median")
    if not reference:
        return {}
    out = {f"{name}_to_runbook": round(q["median"] / reference, 3) for name, q in queries.items()}
    original = queries.get("original_cron_query", {}).get("median")
    if original and "delivery_integrity" in queries:  # the cheaper of the two references
        out["delivery_integrity_to_original_cron"] = round(queries["delivery_integrity"]["median"] / original, 3)
    for name, command in result.get("commands", {}).items():
        out[f"{name}_to_runbook"] = round(command["median"] / reference, 3)
    build = result.get("dbt_build")
    if build:
        out["dbt_build_to_runbook"] = round(build["wall_seconds"] / reference, 3)
    after = result.get("queries_after", {}).get("runbook_daily_query", {}).get("median")
    if after:
        out["runbook_drift_after_build"] = round(after / reference, 3)
    app = result.get("app")
    if app:
        for kind in ("send", "link"):
            for p in ("p50_ms", "p99_ms"):
                quiet, busy = app["no_build"][kind][p], app["during_build"][kind][p]
                if quiet and busy:
                    out[f"{kind}_{p[:3]}_during_build_to_no_build"] = round(busy / quiet, 3)
    return out


def targets(result: dict) -> dict:
    r = result["ratios"]
    out = {}
    if "delivery_integrity_to_runbook" in r:
        out["integrity_figures"] = r["delivery_integrity_to_runbook"] <= TARGETS["integrity_figures"][0]
    if "dbt_build_to_runbook" in r:
        out["dbt_build"] = r["dbt_build_to_runbook"] <= TARGETS["dbt_build"][0]
    if "send_p99_during_build_to_no_build" in r:
        out["send_p99_during_build"] = r["send_p99_during_build_to_no_build"] <= TARGETS["send_p99_during_build"][0]
    app = result.get("app")
    if app:
        out["no_app_write_waits_over_10ms"] = all(
            app["during_build"][kind]["lock_waits_over_limit"] == 0 for kind in ("send", "link")
        )
    template = result["template"]
    if not template["reused"] and not template["resumed"]:
        out["generate_seconds"] = template["build_total_seconds"] * 100_000_000 / result["deliveries"] <= 1800
    return out


# --- the machine, the documents ---------------------------------------------------------------------------


def machine(server: connection.ConnectionSettings) -> dict:
    with connection.connect(server.with_database("postgres")) as conn:
        version = conn.execute("select version()").fetchone()[0]
        settings = dict(
            conn.execute(
                """
                select name, setting || coalesce(' ' || unit, '') from pg_settings
                where name in ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size',
                               'max_parallel_workers_per_gather', 'synchronous_commit', 'fsync', 'max_wal_size',
                               'jit', 'random_page_cost')
                """
            ).fetchall()
        )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    memory = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    cpu = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else None,
        "memory": f"{int(memory.group(1)) / 2**20:.1f} GiB" if memory else None,
        "platform": platform.platform(),
        "postgres": version,
        "server": server.describe(),
        "settings": settings,
    }


def run(console: Console, options: ScaleOptions | None = None) -> dict:
    """Measure every size; write the JSON, SCALE.md and the README block; print the headline table."""
    options = options or ScaleOptions()
    bench = Bench(console, options)
    started = datetime.now(UTC)
    document = {
        "command": options.command,
        "generated_at": started.isoformat(timespec="seconds"),
        "machine": machine(bench.server),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "targets": {k: text for k, (_, text) in TARGETS.items()},
        "sizes": [],
    }
    console.print(
        f"bench-scale on {bench.server.describe()}: {document['machine']['nproc']} CPUs, "
        f"{document['machine']['memory']}, {document['machine']['postgres'].split(' on ')[0]}; "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with bench.progress:
        for deliveries in options.sizes:
            document["sizes"].append(bench.size(deliveries))
    document["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = options.output_dir / "scale.json"
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    console.print(headline_table(document))
    failed = [c for size in document["sizes"] for c in size["checks"] if not c["passed"]]
    total = sum(len(size["checks"]) for size in document["sizes"])
    console.print(f"checks: {total - len(failed)} of {total} passed")
    for check in failed:
        console.print(f"  [red]FAILED[/] {check['name']}: {check['detail']}")
    console.print(f"wrote {json_path}")
    if options.markdown:
        options.markdown.write_text(markdown(document))
        console.print(f"wrote {options.markdown}")
    if options.readme:
        write_readme_block(options.readme, readme_block(document))
        console.print(f"updated {options.readme} (between the bench-scale markers)")
    return document


def seconds_text(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} s" if value < 100 else f"{value:,.0f} s"


def headline_rows(size: dict) -> list[tuple[str, str, str]]:
    """(what, figure, target) rows for a size: the README's and the console's."""
    q, r, t = size.get("queries", {}), size.get("ratios", {}), size.get("targets", {})
    runbook = q.get("runbook_daily_query", {}).get("median")

    def verdict(key: str) -> str:
        if key not in t:
            return ""
        return ("met: " if t[key] else "missed: ") + TARGETS.get(key, (0, "no app write waits > 10 ms"))[1]

    rows = [("runbook's daily query (reference)", seconds_text(runbook), "")]
    if "delivery_integrity" in q:
        stricter = r.get("delivery_integrity_to_original_cron")
        rows.append(
            (
                "integrity figures (`delivery_integrity`)",
                f"{seconds_text(q['delivery_integrity']['median'])} = {r['delivery_integrity_to_runbook']:.2f}×"
                + (f" ({stricter:.2f}× the original cron script's query)" if stricter else ""),
                verdict("integrity_figures"),
            )
        )
    if "original_cron_query" in q:
        rows.append(("original cron script's query", f"{r['original_cron_query_to_runbook']:.2f}×", ""))
    for name, text in (
        ("linkage_check", "`linkage check`"),
        ("linkage_report", "`linkage report`"),
        ("cron_script", "`psql -f scripts/daily-delivery-integrity-check.sql`"),
    ):
        if name in size.get("commands", {}):
            rows.append(
                (text, f"{seconds_text(size['commands'][name]['median'])} = {r[name + '_to_runbook']:.2f}×", "")
            )
    build = size.get("dbt_build")
    if build:
        memory = build["memory"]
        peak = f", server peak {memory['peak_pss_bytes'] / 2**20:,.0f} MiB" if memory.get("available") else ""
        rows.append(
            (
                "`dbt build`",
                f"{seconds_text(build['wall_seconds'])} = {r['dbt_build_to_runbook']:.2f}×{peak}, temp files "
                f"{build['temp_bytes'] / 2**20:,.0f} MiB",
                verdict("dbt_build"),
            )
        )
    app = size.get("app")
    if app:
        for kind in ("send", "link"):
            quiet, busy = app["no_build"][kind], app["during_build"][kind]
            rows.append(
                (
                    f"app {kind} p50 / p99, no build → during `dbt build`",
                    f"{quiet['p50_ms']} / {quiet['p99_ms']} ms → {busy['p50_ms']} / {busy['p99_ms']} ms;"
                    f" lock waits > {LOCK_WAIT_LIMIT}: {busy['lock_waits_over_limit']}",
                    verdict("send_p99_during_build") if kind == "send" else verdict("no_app_write_waits_over_10ms"),
                )
            )
    template = size.get("template")
    if template and template.get("build_total_seconds"):
        how = "reused; built" if template["reused"] else "built"
        rows.append(
            (
                "`linkage generate --production --template`",
                f"{how} in {seconds_text(template['build_total_seconds'])}"
                f" ({template['deliveries_per_second']:,} deliveries/s)",
                verdict("generate_seconds"),
            )
        )
    return rows


def headline_table(document: dict) -> Table:
    table = Table(title=f"bench-scale {document['generated_at']}")
    table.add_column("size")
    table.add_column("what")
    table.add_column("figure")
    table.add_column("target")
    for size in document["sizes"]:
        for what, figure, target in headline_rows(size):
            table.add_row(size["label"], what, figure, target)
    return table


def machine_line(document: dict) -> str:
    m = document["machine"]
    where = m["server"].split(" (")[-1].rstrip(")")
    return f"{m['nproc']} vCPU {m['cpu']}, {m['memory']}, {m['postgres'].split(' on ')[0]} ({where})"


def readme_block(document: dict) -> str:
    return markers.block(README_BLOCK, "make bench-scale", readme_body(document))


def readme_body(document: dict) -> str:
    lines = [
        f"`make bench-scale` ({document['generated_at'][:10]}; {machine_line(document)}; production-shaped worlds;"
        " each figure the median of its rounds, ratios to the runbook's daily query in the same run;"
        " full tables in [bench/SCALE.md](bench/SCALE.md)):",
        "",
        "| size | what | figure | target |",
        "|---|---|---|---|",
    ]
    for size in document["sizes"]:
        load = f"load {size['load_average_start'][0]:.1f} → {size['load_average_end'][0]:.1f}"
        for i, (what, figure, target) in enumerate(headline_rows(size)):
            lines.append(f"| {size['label'] + ' (' + load + ')' if i == 0 else ''} | {what} | {figure} | {target} |")
    return "\n".join(lines)


def write_readme_block(path: Path, block: str) -> None:
    markers.write(path, block)


def markdown(document: dict) -> str:
    lines = [
        "# The data team at production scale (`make bench-scale`)",
        "",
        f"Written by `{document['command']}` on {document['generated_at']} ({document['duration_seconds']:,.0f} s):"
        f" {machine_line(document)}; server settings "
        + ", ".join(f"{k} {v}" for k, v in sorted(document["machine"]["settings"].items()))
        + ". Do not edit: rerun the command. Raw figures: [results/scale.json](results/scale.json).",
        "",
        "Method: `devtools/src/delivery_linkage_devtools/bench/scale.py` (its docstring). The machine is shared"
        " and noisy (±25 %): read the ratios, measured side by side in one run, not the absolute times.",
        "",
    ]
    for size in document["sizes"]:
        template = size["template"]
        counts = template["counts"]
        lines += [
            f"## {size['label']} deliveries",
            "",
            f"World: {counts['message_deliveries']:,} deliveries, {counts['event_guests']:,} guests,"
            f" {counts['users']:,} users, {counts['events']:,} events, {counts['messages']:,} messages;"
            f" {counts['linkable_null']:,} linkable but NULL; {world_template.gib(template['size_bytes'] or 0)}"
            f" (`{template['command']}`,"
            f" {'reused' if template['reused'] else 'built in this run'}: "
            + ", ".join(f"{k} {v:,.0f} s" for k, v in template["build_seconds"].items())
            + f"). Load average {size['load_average_start'][0]:.2f} at the start, {size['load_average_end'][0]:.2f}"
            f" at the end; {size['seconds']:,.0f} s in all.",
            "",
            "| what | figure | target |",
            "|---|---|---|",
        ]
        lines += [f"| {what} | {figure} | {target} |" for what, figure, target in headline_rows(size)]
        lines += [
            "",
            "Adoption, once: deploy "
            f"{size['deploy_seconds']:,.1f} s, `linkage indexes` {size['indexes_seconds']:,.1f} s"
            f" ({size['indexes_built']} built CONCURRENTLY), first `dbt build` {size['first_build_seconds']:,.1f} s;"
            f" copy of the template {size['copy_seconds']:,.1f} s.",
            "",
        ]
        lines += ["| query or command | median | IQR | ratio to the runbook's query |", "|---|---|---|---|"]
        for name, q in {**size.get("queries", {}), **size.get("commands", {})}.items():
            ratio = size["ratios"].get(f"{name}_to_runbook")
            lines.append(
                f"| {name} | {seconds_text(q['median'])} | {q['q1']:.2f}–{q['q3']:.2f} |"
                f" {'' if ratio is None else f'{ratio:.2f}×'} |"
            )
        drift = size["ratios"].get("runbook_drift_after_build")
        if drift:
            lines += ["", f"The runbook's query after the build ran at {drift:.2f}× its time before it (drift)."]
        build = size.get("dbt_build")
        if build:
            memory = build["memory"]
            lines += [
                "",
                f"`dbt build`: {seconds_text(build['wall_seconds'])} wall"
                f" (dbt's elapsed {build['dbt_elapsed_seconds']} s); models {build['models_seconds']:.1f} s,"
                f" tests {build['tests_seconds']:.1f} s (summed over 4 threads);"
                + (
                    f" server peak memory {memory['peak_pss_bytes'] / 2**20:,.0f} MiB (sum of PSS),"
                    f" largest process {memory['peak_process_rss_bytes'] / 2**20:,.0f} MiB RSS;"
                    if memory.get("available")
                    else " server memory not measured (not on this machine);"
                )
                + f" temporary files {build['temp_files']} ({build['temp_bytes'] / 2**20:,.1f} MiB).",
                "",
                "| slowest nodes | seconds | status |",
                "|---|---|---|",
            ]
            lines += [f"| {n['unique_id']} | {n['seconds']:.2f} | {n['status']} |" for n in build["nodes"][:20]]
        app = size.get("app")
        if app:
            lines += [
                "",
                f"App traffic: a send every {app['send_period_seconds']} s, a guest link every"
                f" {app['link_period_seconds']} s; {app['quiet_seconds_each_side']} s with no build before and after"
                f" the build, lock_timeout {app['lock_wait_limit']} on the app's sessions.",
                "",
                "| operation | window | n | p50 ms | p99 ms | max ms | lock waits > limit | other errors |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for kind in ("send", "link"):
                for window in ("no_build", "during_build"):
                    a = app[window][kind]
                    lines.append(
                        f"| {kind} | {window.replace('_', ' ')} | {a['operations']} | {a['p50_ms']} |"
                        f" {a['p99_ms']} | {a['max_ms']} | {a['lock_waits_over_limit']} | {a['other_errors']} |"
                    )
        lines += ["", "Checks:", ""]
        lines += [
            f"- {'passed' if c['passed'] else '**FAILED**'}: {c['name']}"
            + (f" ({c['detail']})" if not c["passed"] else "")
            for c in size["checks"]
        ]
        lines.append("")
    return "\n".join(lines)
