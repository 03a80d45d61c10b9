"""The `linkage` command: thin — parse, call, print. Expected failures print a cause and a fix, no traceback."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from delivery_linkage.database import connection, embedded_server

app = typer.Typer(help="Keeps message_deliveries.user_id linked, and proves it.", no_args_is_help=True)
db_app = typer.Typer(help="The embedded PostgreSQL server (data directory .pgdata/ in the project).")
app.add_typer(db_app, name="db")
console = Console(width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True)


def fail(message: str, code: int = 3) -> None:
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def open_connection(dbname: str | None = None):
    try:
        settings = connection.resolve(dbname)
        return settings, connection.connect(settings)
    except connection.ConnectionError_ as error:
        fail(str(error))


def progress_bar(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    )


@db_app.command("start")
def db_start():
    """Start the embedded server (initialising it the first time)."""
    address = embedded_server.start()
    console.print(f"embedded PostgreSQL running: socket {address.host}, port {address.port}, user {address.user}")


@db_app.command("stop")
def db_stop():
    """Stop the embedded server."""
    console.print("stopped" if embedded_server.stop() else "not running")


@db_app.command("status")
def db_status():
    """Is the embedded server running? Exit status 0 when it is, 1 when not."""
    address = embedded_server.status()
    if address is None:
        console.print(f"not running (data directory {embedded_server.data_dir()})")
        raise typer.Exit(1)
    console.print(f"running: socket {address.host}, port {address.port} (data directory {embedded_server.data_dir()})")


@db_app.command("url")
def db_url(dbname: str = typer.Option(connection.DEFAULT_DATABASE, help="database name")):
    """Print the connection URL (starting the embedded server if needed)."""
    settings = connection.resolve(dbname)
    print(f"postgresql://{settings.user}@/{settings.dbname}?host={settings.host}&port={settings.port}")


@db_app.command("env")
def db_env(dbname: str = typer.Option(connection.DEFAULT_DATABASE, help="database name")):
    """Print `export PG…=…` lines for the shell: `eval "$(linkage db env)"` then run dbt or psql."""
    for key, value in connection.resolve(dbname).libpq_env().items():
        print(f"export {key}={value}")


@app.command()
def check(
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    critical_pct: float = typer.Option(1.0, help="critical above this inconsistency percentage"),
):
    """Daily integrity check: exit 0 healthy, 1 warning, 2 critical (3: could not check)."""
    from delivery_linkage.operations import check as integrity

    settings, conn = open_connection()
    with conn:
        try:
            report = integrity.check(conn, critical_pct)
        except Exception as error:  # noqa: BLE001 - a missing table is an expected failure here
            fail(
                f"cannot read the app tables in {settings.describe()}: {str(error).strip()}\n"
                "  fix: point the libpq variables at the app database, or run `linkage demo`"
            )
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        print_report(report)
    raise typer.Exit(report.exit_status)


def print_report(report) -> None:
    colour = {"healthy": "green", "warning": "yellow", "critical": "red"}[report.health_status]
    table = Table(title="Delivery integrity", show_header=False)
    table.add_row("checked at", report.check_timestamp.isoformat(timespec="seconds"))
    table.add_row("total deliveries", f"{report.total_deliveries:,}")
    table.add_row("inconsistent (linkable but NULL)", f"{report.inconsistent_deliveries:,}")
    table.add_row("inconsistency", f"{report.inconsistency_percentage}% (critical above {report.critical_pct}%)")
    table.add_row("consistent", f"{report.consistent_deliveries:,}")
    table.add_row("both NULL", f"{report.both_null_deliveries:,}")
    table.add_row("conflicting", f"{report.conflicting_deliveries:,}")
    rate = "n/a" if report.success_rate_24h is None else f"{report.success_rate_24h * 100:.2f}%"
    table.add_row("trigger success rate (24h)", f"{rate} of {report.attempts_24h:,} attempts")
    table.add_row(
        "backfill activity (24h)", f"{report.backfill_links_24h:,} links, {report.backfilled_guests_24h:,} guests"
    )
    table.add_row("health", f"[bold {colour}]{report.health_status}[/]")
    console.print(table)


@app.command()
def backfill(
    dry_run: bool = typer.Option(False, "--dry-run", help="change nothing, write no audit; report what would link"),
    batch_size: int = typer.Option(5000, min=1, help="deliveries per batch (each batch commits on its own)"),
):
    """Historical backfill: link existing NULL-user deliveries by the insert trigger's rules, in batches."""
    from delivery_linkage.operations import backfill as backfill_module
    from delivery_linkage.operations import check as integrity

    _, conn = open_connection()
    with conn:
        before = integrity.check(conn)
        total = backfill_module.unlinked_count(conn)
        with progress_bar() as bar:
            task = bar.add_task("backfill (dry run)" if dry_run else "backfill", total=total)
            result = backfill_module.run(
                conn, batch_size=batch_size, dry_run=dry_run, progress=lambda scanned, _: bar.advance(task, scanned)
            )
        after = integrity.check(conn)
    verb = "would link" if dry_run else "linked"
    console.print(
        f"{result.batches} batches, {result.scanned:,} NULL-user deliveries scanned, {result.linked:,} {verb}"
    )
    for reason, count in sorted(result.by_reason.items()):
        console.print(f"  {reason}: {count:,}")
    console.print(
        f"Before: {before.inconsistent_deliveries} inconsistent deliveries ({before.inconsistency_percentage}%)  "
        f"After: {after.inconsistent_deliveries} ({after.inconsistency_percentage}%)"
    )


@app.command()
def rollback(
    since: datetime = typer.Option(..., help="undo links made at or after this time"),
    dry_run: bool = typer.Option(False, "--dry-run"),
):
    """Undo the linkage's links since a time, from the audit trail (changed deliveries are left alone)."""
    from delivery_linkage.operations.check import app_schema

    _, conn = open_connection()
    with conn:
        found, unlinked, left = conn.execute(
            f"select * from {app_schema()}.rollback_links_since(%s, %s)", (since, dry_run)
        ).fetchone()
    console.print(
        f"{found:,} links since {since}: {unlinked:,} {'would be ' if dry_run else ''}unlinked, {left:,} left alone"
    )


@app.command()
def indexes():
    """Build, CONCURRENTLY, the linkage indexes a deploy skipped on large tables."""
    from delivery_linkage.operations.check import app_schema

    schema = app_schema()
    definitions = [
        ("message_deliveries_unlinked_id_idx", "message_deliveries", "(id) where user_id is null"),
        ("message_deliveries_unlinked_guest_id_idx", "message_deliveries", "(guest_id) where user_id is null"),
        (
            "event_guests_event_id_normalized_phone_idx",
            "event_guests",
            f"(event_id, {schema}.normalize_phone(phone)) where removed_at is null",
        ),
        ("users_normalized_phone_idx", "users", f"({schema}.normalize_phone(phone))"),
    ]
    _, conn = open_connection()
    with conn:
        for name, table, definition in definitions:
            valid = conn.execute(
                "select i.indisvalid from pg_index i where i.indexrelid = to_regclass(%s)", (f"{schema}.{name}",)
            ).fetchone()
            if valid and valid[0]:
                console.print(f"{name}: present")
                continue
            conn.execute(f"drop index concurrently if exists {schema}.{name}")
            conn.execute(f"create index concurrently {name} on {schema}.{table} {definition}")
            console.print(f"{name}: built")


@app.command()
def demo(
    deliveries: int = typer.Option(20000, help="size of the synthetic history"),
):
    """Build the demo database on the embedded server and tell the whole story."""
    from delivery_linkage.devtools import demo as demo_module

    try:
        code = demo_module.run(console, deliveries=deliveries)
    except connection.ConnectionError_ as error:
        fail(str(error))
    raise typer.Exit(code)


@app.command()
def validate(
    critical_pct: float = typer.Option(1.0, help="critical above this inconsistency percentage"),
    docs_dir: Path = typer.Option(None, help="where to write Data Docs (default gx/uncommitted/data_docs)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Great Expectations suites on the sources and the marts; writes Data Docs. Exit 0 all pass, 1 any fails."""
    from delivery_linkage import validation

    settings, conn = open_connection()
    conn.close()
    try:
        with progress_bar(disable=as_json) as bar:  # --json: stdout holds the JSON document alone
            task = bar.add_task("validating", total=None)

            def advance(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=total)

            summary = validation.run_validation(
                settings,
                data_docs_dir=docs_dir or validation.DEFAULT_DATA_DOCS_DIR,
                critical_pct=critical_pct,
                progress=advance,
            )
    except (connection.ConnectionError_, validation.ValidationSetupError) as error:
        fail(str(error))
    if as_json:
        print(json.dumps(summary.as_dict()))
    else:
        for line in summary.lines():
            console.print(line, soft_wrap=True)
    raise typer.Exit(summary.exit_status)


@app.command()
def report(out: Path = typer.Option(Path("linkage-report.html"), "--out", help="HTML file to write")):
    """One self-contained HTML page: integrity, trends, attempts, backfills, ambiguity, conflicts, benchmark."""
    from delivery_linkage import report as report_module

    settings, conn = open_connection()
    conn.close()
    try:
        written = report_module.write_report(settings, out)
    except (connection.ConnectionError_, report_module.ReportError) as error:
        fail(str(error))
    console.print(f"report written: {written.resolve()}")



@app.command()
def bench(
    quick: bool = typer.Option(False, "--quick", help="small sizes: a smoke run in seconds"),
    experiment: list[str] = typer.Option(None, "--experiment", help="NAME=a.sql+b.sql: also measure a variant"),
    workload: list[str] = typer.Option(None, "--workload", help="only these workloads (repeatable)"),
    keep: bool = typer.Option(False, "--keep", help="keep the bench_* databases"),
):
    """Benchmark the linkage against the floor (no linkage) and the runbook's straightforward design."""
    from delivery_linkage.devtools import bench as bench_module

    overrides = {"keep_databases": keep}
    if quick:  # a smoke run never replaces the published figures in bench/results/
        overrides["output_dir"] = bench_module.PROJECT_DIR / "target" / "bench-quick"
    if experiment:
        overrides["experiments"] = tuple(experiment)
    if workload:
        overrides["workloads"] = tuple(workload)
    options = (
        bench_module.BenchOptions.quick_options(**overrides) if quick else bench_module.BenchOptions(**overrides)
    )
    try:
        bench_module.run(console, options)
    except connection.ConnectionError_ as error:
        fail(str(error))



@app.command()
def generate(
    deliveries: int = typer.Option(..., "--deliveries", min=0, help="how many deliveries to write"),
    late_link_share: float = typer.Option(0.15, help="share of linked guests linked after their deliveries"),
    seed: int = typer.Option(42, help="same seed, same world"),
    fresh: bool = typer.Option(False, "--fresh", help="(embedded server only) recreate the app database first"),
):
    """Write synthetic history into the app tables (set-based; 1M deliveries in about 20 s on 2 cores)."""
    from delivery_linkage.devtools import app_fixture, synthetic

    settings, conn = open_connection()
    if fresh:
        conn.close()
        if not settings.embedded:
            fail("--fresh recreates the database: only on the embedded server")
        app_fixture.create_app_database(settings.with_database("postgres"), settings.dbname)
        conn = connection.connect(settings)
    with conn, progress_bar() as bar:
        task = bar.add_task("generating", total=None)

        def advance(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            counts = synthetic.generate(
                conn, synthetic.WorldShape(deliveries=deliveries, late_link_share=late_link_share, seed=seed), advance
            )
        except ValueError as error:
            fail(str(error))
    table = Table(title=f"Written to {settings.describe()}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
