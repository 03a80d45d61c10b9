"""The `linkage` command: thin — parse, call, print. Expected failures print a cause and a fix, no traceback.

Exit codes, for every command: 0 done (for `check`: healthy), 1 warning or failed validation,
2 critical (`check`), 3 could not do it (connection, missing tables: nothing was measured),
64 usage error (EX_USAGE: unknown option, bad value, missing argument). With `--json`, stdout
holds exactly one JSON object for every outcome, errors and usage errors included.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from delivery_linkage import __version__, cli_types, project
from delivery_linkage.database import connection, embedded_server
from delivery_linkage.operations import alerts as alert_defaults

EXIT_COULD_NOT_CHECK = 3
EXIT_USAGE = 64  # EX_USAGE of sysexits.h: distinct from every outcome of a check
# The usage-error class of the click that typer runs on (typer vendors its own copy from 0.2x on).
UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class LinkageApp(typer.Typer):
    """Typer, with usage errors exiting 64 (click's own 2 would read as "critical") and, when the
    command line asks for --json, reported as one JSON object on stdout."""

    def __call__(self, args: list[str] | None = None, prog_name: str = "linkage") -> None:
        args = sys.argv[1:] if args is None else list(args)
        wants_json = "--json" in args[: args.index("--") if "--" in args else None]
        try:
            code = super().__call__(args=args, prog_name=prog_name, standalone_mode=False)
        except UsageError as error:
            code = usage_error(error, wants_json)
        except typer.Abort:
            errors.print("aborted")
            code = 1
        except Exception as error:  # noqa: BLE001 - unforeseen: "could not", never 1 (warning) by accident
            traceback.print_exc()
            if wants_json:
                cause = f"unexpected {type(error).__name__}: {error}"
                emit_json(error_object(cause, EXIT_COULD_NOT_CHECK, "report it, with the traceback on stderr"))
            code = EXIT_COULD_NOT_CHECK
        sys.exit(code if isinstance(code, int) else 0)


def usage_error(error, wants_json: bool) -> int:
    if error.__class__.__name__ == "NoArgsIsHelpError":  # bare `linkage`: the help, on stderr
        print(error.format_message(), file=sys.stderr)
    else:
        error.show()  # usage line, "Try 'linkage … --help'", the error
    command = error.ctx.command_path if error.ctx is not None else "linkage"
    if error.ctx is None:  # raised by the parser before a context existed: no usage line was shown
        print(f"Try '{command} --help' for help.", file=sys.stderr)
    if wants_json:
        emit_json(error_object(error.format_message(), EXIT_USAGE, f"see `{command} --help`"))
    return EXIT_USAGE


def error_object(cause: str, code: int, fix: str | None) -> dict:
    """The JSON of an error: the same keys as a result's status and exit_code, plus error and fix."""
    return {"status": "error", "exit_code": code, "error": cause, "fix": fix}


def emit_json(data: dict) -> None:
    print(json.dumps(data, default=str), flush=True)


app = LinkageApp(
    help="Keeps message_deliveries.user_id linked, and proves it.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: flags shown as flags (rich help labels them <bool>)
)
db_app = typer.Typer(
    help="The embedded PostgreSQL server (data directory: .pgdata/ in a checkout, else in the per-user data "
    "directory; LINKAGE_PGDATA overrides)."
)
app.add_typer(db_app, name="db")
console = Console(width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True)


def show_version(value: bool) -> None:
    if value:
        print(f"delivery_linkage {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=show_version, help="Print the version and exit."
    ),
):
    """Keeps message_deliveries.user_id linked, and proves it."""


def fail(message: str, code: int = EXIT_COULD_NOT_CHECK, as_json: bool = False) -> None:
    """Print the cause and the fix (stderr; with as_json also one JSON object on stdout) and exit."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    if as_json:
        cause, _, fix = message.partition("\n  fix: ")
        emit_json(error_object(cause.strip(), code, fix.strip() or None))
    raise typer.Exit(code)


PROJECT_DIR_HELP = (
    "The delivery_linkage dbt project (default: LINKAGE_PROJECT_DIR, else the checkout, else the copy "
    "installed with the package)."
)

# options several commands take, written once
PROJECT_DIR_OPTION = typer.Option(None, "--project-dir", help=PROJECT_DIR_HELP)
JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object on stdout (a flag: no value).")
DBNAME_OPTION = typer.Option(None, help="database name (default: PGDATABASE, else the demo's delivery_linkage)")
CRITICAL_PCT_OPTION = typer.Option(
    None,
    parser=cli_types.PERCENTAGE,
    metavar="PERCENT",
    help="Critical above this inconsistency percentage, 0 to 100 (default: the dbt var linkage_critical_pct "
    "the models were built with).",
)


def resolve_project(project_dir: Path | None, as_json: bool = False) -> Path:
    try:
        return project.project_dir(project_dir)
    except project.ProjectNotFound as error:
        fail(str(error), as_json=as_json)


def open_connection(dbname: str | None = None, as_json: bool = False):
    try:
        settings = connection.resolve(dbname)
        return settings, connection.connect(settings)
    except connection.ConnectionError_ as error:
        fail(str(error), as_json=as_json)


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
def db_url(
    dbname: str = DBNAME_OPTION,
):
    """Print the connection URL (starting the embedded server if needed)."""
    settings = connection.resolve(dbname)
    print(f"postgresql://{settings.user}@/{settings.dbname}?host={settings.host}&port={settings.port}")


@db_app.command("env")
def db_env(
    dbname: str = DBNAME_OPTION,
):
    """Print `export …=…` lines for the shell: `eval "$(linkage db env)"` then run dbt or psql.

    The libpq variables (PG…) of the database, and DBT_PROFILES_DIR naming the project's profiles folder
    (a copy of profiles.example.yml, which reads those variables), so that `dbt docs generate`, `dbt run`
    and psql work as they are."""
    import shlex

    from delivery_linkage.database import dbt_runner

    for key, value in connection.resolve(dbname).libpq_env().items():
        print(f"export {key}={shlex.quote(value)}")
    print(f"export DBT_PROFILES_DIR={shlex.quote(str(dbt_runner.profiles_dir()))}")


CHECK_HELP = """Daily integrity check, for cron and alerting.

\b
Exit codes (the verdict, the runbook's alert levels):
   0  healthy   no delivery is linkable but NULL, nothing else wrong
   1  warning   some are, at or below --critical-pct percent of all deliveries
                (or a feature flag row is missing, or audit rows could not be written)
   2  critical  more than --critical-pct percent are
   3  could not check (cannot connect, app tables missing): nothing was measured
  64  usage error (unknown option, bad value); EX_USAGE

The verdict's figures are computed now, at a small part of the cost of reading every delivery. Every
delivery is counted in exactly one category (linked_to_guest_user … null_without_guest, see the model
delivery_categories) by each dbt build, which reads every delivery once: the categories shown are the
last build's, adding up to the total of then. The runbook's own figure, counted with them, is shown
beside the verdict with one line saying why it differs; it is never judged.

\b
Alerts: when LINKAGE_ALERT_WEBHOOK_URL is set (never printed), the verdict is posted to it when the
status changed since the previous check of this database and on every critical check (Slack-compatible
JSON; --alert-template FILE for another body). The previous status is kept in a state file on this
machine (--state-file; the database is only read, a hot standby works). An alert that cannot be
delivered within --alert-timeout is reported on stderr and in the JSON; the exit code stays the verdict.

With --json, stdout holds exactly one JSON object whatever happens: "status" (healthy, warning,
critical or error) and "exit_code" always; the figures after a check; "error" and "fix" after a
failure, e.g. {"status": "error", "exit_code": 3, "error": "cannot connect to …", "fix": "…"}.
"""


@app.command(help=CHECK_HELP)
def check(
    as_json: bool = JSON_OPTION,
    critical_pct: float = CRITICAL_PCT_OPTION,
    alert: bool = typer.Option(
        True, "--alert/--no-alert", help="Post the verdict when due (only when LINKAGE_ALERT_WEBHOOK_URL is set)."
    ),
    alert_template: Path = typer.Option(
        None,
        parser=cli_types.template_file,
        metavar="FILE",
        help="Jinja2 template of the alert's body (default: Slack-compatible JSON).",
    ),
    alert_timeout: float = typer.Option(
        alert_defaults.DEFAULT_TIMEOUT,
        parser=cli_types.ALERT_TIMEOUT,
        metavar="SECONDS",
        help="Seconds the alert may take in all, retries included (above 0, at most 300).",
    ),
    alert_retries: int = typer.Option(
        alert_defaults.DEFAULT_RETRIES,
        parser=cli_types.ALERT_RETRIES,
        metavar="N",
        help="Retries of a failed post (0 to 10).",
    ),
    state_file: Path = typer.Option(
        None,
        parser=cli_types.output_file,
        metavar="FILE",
        help="Where the previous status is kept (default: LINKAGE_STATE_FILE, else "
        "~/.local/state/delivery_linkage/check-state.json).",
    ),
):
    from delivery_linkage.operations import alerts
    from delivery_linkage.operations import check as integrity

    alert_settings = None
    if alert:
        try:
            url = alerts.webhook_url()
        except alerts.AlertSetupError as error:
            raise typer.BadParameter(str(error), param_hint=alerts.WEBHOOK_VARIABLE) from None
        if url:
            alert_settings = alerts.AlertSettings(
                url=url,
                template_path=alert_template,
                state_file=state_file,
                timeout=alert_timeout,
                retries=alert_retries,
            )
    settings, conn = open_connection(as_json=as_json)
    with conn:
        try:
            report = integrity.check(conn, critical_pct)
        except integrity.ModelsNotBuiltError as error:
            fail(str(error), as_json=as_json)
        except Exception as error:  # noqa: BLE001 - a missing table is an expected failure here
            fail(
                f"cannot read the app tables in {settings.describe()}: {str(error).strip()}\n"
                "  fix: point the libpq variables at the app database, or run `linkage demo`",
                as_json=as_json,
            )
    outcome = alerts.alert(report, settings, alert_settings) if alert_settings else None
    if outcome is not None and outcome.due and not outcome.sent:
        errors.print(f"[yellow]alert not delivered:[/] {escape(outcome.error or 'unknown error')}", highlight=False)
    if as_json:
        emit_json(report.as_dict() | {"alert": outcome.as_dict() if outcome else None})
    else:
        print_report(report, outcome)
    raise typer.Exit(report.exit_status)


STATUS_COLOURS = {"healthy": "green", "warning": "yellow", "critical": "red"}


def print_report(report, outcome=None) -> None:
    colour = STATUS_COLOURS[report.status]
    table = Table(title="Delivery integrity", show_header=False)
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_column("share", justify="right")
    table.add_column("meaning", overflow="fold")
    table.add_row("status", f"[bold {colour}]{report.status}[/]", "", f"exit {report.exit_status}")
    table.add_row("checked at", report.check_timestamp.isoformat(timespec="seconds"), "", "")
    table.add_row(
        "linkable but NULL (defects)",
        f"{report.inconsistent_deliveries:,}",
        f"{report.inconsistency_percentage}%",
        f"health {report.health_status}: critical above {report.critical_pct:g}% of all deliveries",
    )
    table.add_row("[bold]total deliveries[/]", f"[bold]{report.total_deliveries:,}[/]", "100.00%", "now")
    if report.categories_counted_at is None:
        table.add_row("categories", "–", "", "not counted yet: each dbt build counts them (`dbt build`)")
    else:
        counted = report.categories_counted_at.isoformat(timespec="seconds")
        table.add_row("categories", "", "", f"as counted by the last dbt build, at {counted}")
        total = report.categories_total_deliveries or 0
        for category in report.categories:
            share = 100 * (category.deliveries or 0) / total if total else 0
            name = f"[bold red]{category.name}[/]" if category.is_defect and category.deliveries else category.name
            table.add_row(f"  {name}", f"{category.deliveries or 0:,}", f"{share:.2f}%", category.description)
        table.add_row("  [bold]total then[/]", f"[bold]{total:,}[/]", "100.00%", "the categories above add up to it")
        table.add_row(
            "runbook's figure",
            f"{report.runbook_inconsistent_deliveries:,} of {report.runbook_total_deliveries:,}",
            f"{report.runbook_inconsistency_percentage}%",
            report.runbook_difference,
        )
    rate = "n/a" if report.success_rate_24h is None else f"{report.success_rate_24h * 100:.2f}%"
    table.add_row("trigger success rate (24h)", f"{report.attempts_24h:,} attempts", rate,
                  "informational, no threshold: deliveries to guests without an account end as no_match")
    table.add_row(
        "backfill activity (24h)",
        f"{report.backfill_links_24h:,} links",
        "",
        f"{report.backfilled_guests_24h:,} guests",
    )
    for problem in report.problems:
        table.add_row("[yellow]problem[/]", "", "", problem)
    if report.owners or report.tags:
        table.add_row("owners", ", ".join(report.owners) or "–", "", "tags: " + (", ".join(report.tags) or "–"))
    if outcome is not None:
        if not outcome.due:
            said = f"not due (status {report.status}, previous {outcome.previous_status or 'none recorded'})"
        elif outcome.sent:
            said = f"sent ({outcome.reason}; HTTP {outcome.http_status}, {outcome.attempts} attempt(s))"
        else:
            said = f"[yellow]not delivered[/] ({outcome.reason}): {escape(outcome.error or '')}"
        table.add_row("alert", "", "", said)
    console.print(table)


@app.command()
def backfill(
    dry_run: bool = typer.Option(False, "--dry-run", help="change nothing, write no audit; report what would link"),
    batch_size: int = typer.Option(
        5000,
        parser=cli_types.BATCH_SIZE,
        metavar="N",
        help="deliveries per batch, 1 to 1,000,000 (each batch commits on its own)",
    ),
):
    """Historical backfill: link existing NULL-user deliveries by the insert trigger's rules, in batches."""
    from delivery_linkage.operations import backfill as backfill_module
    from delivery_linkage.operations import check as integrity

    _, conn = open_connection()
    with conn:
        before = integrity.check_if_built(conn)
        total = backfill_module.unlinked_count(conn)
        with progress_bar() as bar:
            task = bar.add_task("backfill (dry run)" if dry_run else "backfill", total=total)
            result = backfill_module.run(
                conn, batch_size=batch_size, dry_run=dry_run, progress=lambda scanned, _: bar.advance(task, scanned)
            )
        after = integrity.check_if_built(conn)
    verb = "would link" if dry_run else "linked"
    console.print(
        f"{result.batches} batches, {result.scanned:,} NULL-user deliveries scanned, {result.linked:,} {verb}"
    )
    for reason, count in sorted(result.by_reason.items()):
        console.print(f"  {reason}: {count:,}")
    if before and after:
        console.print(
            f"Before: {before.inconsistent_deliveries} inconsistent deliveries ({before.inconsistency_percentage}%)  "
            f"After: {after.inconsistent_deliveries} ({after.inconsistency_percentage}%)"
        )
    else:
        console.print("(integrity figures: the metric models are not built here; `dbt run` builds them)")


@app.command()
def sweep(
    interval: float = typer.Option(1.0, min=0.05, max=3600, help="seconds between passes"),
    once: bool = typer.Option(False, "--once", help="one pass, then exit (for cron)"),
    quiet: bool = typer.Option(False, "--quiet", help="print only errors"),
):
    """The sweeper, in the foreground: links the deliveries a guest link could not see in its own
    transaction, once every transaction that overlapped it has ended (delivery_linkage.sweep_guest_link_queue).
    Not needed where the database has pg_cron (the deploy schedules it there). Stop it with Ctrl-C."""
    from delivery_linkage.operations import sweep as sweep_module

    settings, conn = open_connection()
    conn.close()
    last_left: list[int] = []

    def report(result) -> None:
        if not quiet and (not last_left or result.left != last_left[-1] or once):
            console.print(f"sweeper: {result.left:,} queue entries waiting ({result.seconds * 1000:.0f} ms pass)")
        last_left[:] = [result.left]

    def on_error(error, pause) -> None:
        errors.print(f"sweeper: {str(error).strip()} — retrying in {pause:.0f} s", highlight=False)

    if not quiet:
        console.print(f"sweeping {settings.describe()} every {interval:g} s" + (" (once)" if once else ""))
    try:
        sweep_module.run(
            lambda: connection.connect(settings),
            interval=interval,
            passes=1 if once else None,
            report=report,
            on_error=on_error,
        )
    except sweep_module.SweeperNotDeployed as error:
        fail(str(error))
    except KeyboardInterrupt:
        console.print("sweeper stopped")


@app.command()
def rollback(
    since: str = typer.Option(
        ...,
        help="Undo links made at or after this time. With an offset (2026-11-24T10:00+01:00, …Z) it is "
        "exact; without one (2026-11-24 10:00) it is read in the database session's time zone, as psql "
        "and `dbt run-operation rollback_links` read it. The zone used is printed.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; report what would be undone."),
):
    """Undo the linkage's links since a time, from the audit trail (changed deliveries are left alone)."""
    from delivery_linkage.operations import rollback as rollback_module

    _, conn = open_connection()
    with conn:
        try:
            result = rollback_module.rollback(conn, since, dry_run=dry_run)
        except rollback_module.InvalidTime as error:
            fail(str(error), code=EXIT_USAGE)
    console.print(
        f"--since {since!r} read in time zone {result.time_zone}: {result.since.isoformat(sep=' ')}\n"
        f"links since then: {result.links_found:,} found, {result.unlinked:,} "
        f"{'would be ' if dry_run else ''}unlinked, {result.left_alone:,} left alone (user changed since)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def indexes():
    """Build, CONCURRENTLY, the linkage indexes a deploy skipped on large tables."""
    from delivery_linkage.operations import indexes as indexes_module

    _, conn = open_connection()
    with conn:
        indexes_module.build_missing(conn, report=console.print)


@app.command()
def validate(
    critical_pct: float = CRITICAL_PCT_OPTION,
    docs_dir: Path = typer.Option(
        None,
        parser=cli_types.output_folder,
        metavar="DIR",
        help="Where to write the Data Docs (default gx/uncommitted/data_docs in the checkout, or in the per-user "
        "data directory when the project is the installed package's copy — `linkage project-dir` tells; its "
        "parent folder must exist).",
    ),
    as_json: bool = JSON_OPTION,
    project_dir: Path = PROJECT_DIR_OPTION,
):
    """Great Expectations suites on the sources and the marts; writes Data Docs (offline pages).

    Exit codes, the verdict as `linkage check` gives it: 0 healthy (every expectation passed), 1 warning
    (a warning-severity expectation failed, none critical), 2 critical (a critical-severity one failed:
    the share of linkable-but-NULL deliveries above --critical-pct), 3 could not validate, 64 usage error.
    """
    from delivery_linkage import validation

    project_dir = resolve_project(project_dir, as_json=as_json)
    settings, conn = open_connection(as_json=as_json)
    conn.close()
    try:
        with progress_bar(disable=as_json) as bar:  # --json: stdout holds the JSON document alone
            task = bar.add_task("validating", total=None)

            def advance(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=total)

            summary = validation.run_validation(
                settings,
                data_docs_dir=docs_dir or validation.default_data_docs_dir(project_dir),
                critical_pct=critical_pct,
                progress=advance,
                suites_dir=validation.suites_dir(project_dir),
            )
    except (connection.ConnectionError_, validation.ValidationSetupError) as error:
        fail(str(error), as_json=as_json)
    if as_json:
        print(json.dumps(summary.as_dict()))
    else:
        for line in summary.lines():
            console.print(line, soft_wrap=True)
    raise typer.Exit(summary.exit_status)


@app.command()
def report(
    out: Path = typer.Option(
        Path("linkage-report.html"),
        "--out",
        parser=cli_types.output_file,
        metavar="FILE",
        help="HTML file to write (its folder must exist).",
    ),
    show_pii: bool = typer.Option(
        False, "--show-pii", help="Include guests' phone numbers and names (redacted by default)."
    ),
):
    """One self-contained HTML page to share: integrity, trends, attempts, backfills, ambiguity, conflicts."""
    from delivery_linkage import report as report_module

    settings, conn = open_connection()
    conn.close()
    try:
        written = report_module.write_report(settings, out, show_pii=show_pii)
    except (connection.ConnectionError_, report_module.ReportError) as error:
        fail(str(error))
    console.print(f"report written: {written.resolve()}" + (" (with phone numbers and names)" if show_pii else ""))


@app.command("project-dir")
def project_dir_command(
    output: bool = typer.Option(False, "--output", help="Print where the commands write for it instead."),
):
    """Print where the dbt project is (LINKAGE_PROJECT_DIR, the checkout, or the installed package's copy).

    For dbt itself: `dbt build --project-dir "$(linkage project-dir)"` (or simply `linkage dbt build`).
    With --output: where dbt's target/ and logs/ and the GX results go for it (the checkout, or the
    per-user data directory, LINKAGE_DATA_DIR, for the installed copy).
    """
    found = resolve_project(None)
    print(project.output_dir(found) if output else found)


DBT_HELP = """Run dbt on the delivery_linkage project, against the same database as every command.

\b
  linkage dbt build                 deploy (on-run-start), models, tests: on the primary
  linkage dbt test                  the data tests: on the primary or a read replica
  linkage dbt run-operation backfill_deliveries --args '{dry_run: true}'
  linkage dbt -- test --help        dbt's own help (options after -- all go to dbt)

The project is the checkout, or the copy installed with the package; dbt connects through the libpq
variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), else the embedded server, with the
project's profiles.example.yml unless DBT_PROFILES_DIR names a profiles.yml of your own. When the
project is the installed copy, target/ and logs/ go to the per-user data directory
(`linkage project-dir --output`; DBT_TARGET_PATH and DBT_LOG_PATH override). Exit status: dbt's.
"""


@app.command(
    "dbt",
    help=DBT_HELP,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    options_metavar="[--project-dir DIR] DBT_COMMAND [DBT_OPTIONS]...",
)
def dbt_command(
    context: typer.Context,
    project_dir: Path = PROJECT_DIR_OPTION,
):
    import subprocess

    from delivery_linkage.database import dbt_runner

    if not context.args:
        print(context.get_help())
        raise typer.Exit(EXIT_USAGE)
    found = resolve_project(project_dir)
    try:
        settings = connection.resolve()
    except connection.ConnectionError_ as error:
        fail(str(error))
    command, env = dbt_runner.dbt_invocation(list(context.args), settings, project_dir=found)
    raise typer.Exit(subprocess.run(command, env=env).returncode)


def register_plugin_commands() -> None:
    """Commands other installed packages add (entry-point group `delivery_linkage.commands`): the
    developer tools of a checkout add `demo`, `generate` and `bench`; the product's wheel has none."""
    from importlib.metadata import entry_points

    for entry_point in entry_points(group="delivery_linkage.commands"):
        entry_point.load()(app)


register_plugin_commands()


if __name__ == "__main__":  # pragma: no cover
    app()
