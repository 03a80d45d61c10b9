"""`make demo`: the runbook's story on the embedded server, start to finish.

A demo database starts with the runbook's situation (deliveries created before their guests were
linked), dbt deploys the linkage and builds the metric models, the check and `dbt test` flag the
defect, a dry run shows what the historical backfill would change, the backfill fixes it, the check
and the tests turn green; the sweeper starts and links a send that raced its guest's link; live
traffic keeps it all green.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage.database.schemas import app_schema, private_schema
from delivery_linkage.operations import check as integrity
from delivery_linkage.operations import sweep
from delivery_linkage_devtools import app_fixture, synthetic, traffic

DEMO_DATABASE = connection.DEFAULT_DATABASE
TARGET = "target/demo"


def step(console: Console, text: str) -> None:
    console.rule(f"[bold cyan]{text}")


def dbt(console: Console, settings, args: list[str], expect_failure: bool = False) -> dbt_runner.DbtResult:
    console.print(f"[dim]$ dbt {' '.join(args)}[/]")
    result = dbt_runner.run_dbt(args, settings, target_path=TARGET)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in result.stdout.splitlines()]
    if args[0] == "run-operation":
        shown = [line for line in lines[3:] if "Found " not in line and "Running with" not in line]
    else:
        shown = [line for line in lines if re.search(r"\b(WARN|ERROR|FAIL)\b|Done\.", line) and "START" not in line]
    for line in shown[-14:]:
        console.print("  " + re.sub(r"^\d\d:\d\d:\d\d\s+", "", line), soft_wrap=True)
    if result.returncode != 0 and not expect_failure:
        console.print(result.output[-4000:])
        raise SystemExit(f"dbt {' '.join(args)} failed unexpectedly")
    return result


def run(console: Console, deliveries: int = 20000) -> int:
    server = connection.resolve("postgres")
    settings = server.with_database(DEMO_DATABASE)

    step(console, f"1. The app database as the runbook found it ({settings.describe()})")
    app_fixture.create_app_database(server, DEMO_DATABASE)
    with connection.connect(settings) as conn:
        with console.status("generating synthetic history…"):
            counts = synthetic.generate(
                conn, synthetic.WorldShape(deliveries=deliveries, late_link_share=0.06, seed=42)
            )
    console.print(figures_table("Synthetic history written", counts, COUNT_LABELS))

    step(console, "2. dbt run: deploy the linkage (on-run-start) and build the metric models")
    dbt(console, settings, ["run"])

    step(console, "3. The daily check and dbt test see the defect")
    with connection.connect(settings) as conn:
        report = integrity.check(conn)
    print_check(console, report)
    failing = dbt(console, settings, ["test"], expect_failure=True)
    console.print(f"dbt test exit status: [bold]{failing.returncode}[/] (non-zero: investigate immediately)")

    step(console, "4. Historical backfill: dry run, then for real")
    dbt(console, settings, ["run-operation", "backfill_deliveries", "--args", "{dry_run: true, batch_size: 5000}"])
    dbt(console, settings, ["run-operation", "backfill_deliveries", "--args", "{batch_size: 5000}"])

    step(console, "5. Green again")
    dbt(console, settings, ["run", "--select", "delivery_integrity_history"])  # the hourly build counts the categories
    with connection.connect(settings) as conn:
        print_check(console, integrity.check(conn))
    passing = dbt(console, settings, ["test"], expect_failure=True)
    console.print(f"dbt test exit status: [bold]{passing.returncode}[/]")

    step(console, "6. The sweeper, and a send that races its guest's link")
    stop = threading.Event()
    passes: list[sweep.SweepPass] = []
    sweeper = threading.Thread(
        target=sweep.run,
        args=(lambda: connection.connect(settings),),
        kwargs={"interval": 0.5, "report": passes.append, "stop": stop},
        daemon=True,
    )
    sweeper.start()
    console.print(
        "[dim]$ linkage sweep --interval 0.5   (in the background; pg_cron runs it where the database has it)[/]"
    )
    race_with_the_sweeper(console, settings)

    step(console, "7. Live traffic: announcements, guests linking one by one, one bulk guest link")
    with connection.connect(settings) as conn:
        summary = traffic.play(conn, sweep_after=False)  # the sweeper above runs
        console.print(figures_table(
                "Live traffic played",
                {key: value for key, value in asdict(summary).items() if key in TRAFFIC_LABELS},
                TRAFFIC_LABELS,
            ))
        settle(conn)
        stop.set()
        sweeper.join(10)
        console.print(f"the sweeper made {len(passes):,} passes; queue entries left: {queue_size(conn)}")
    dbt(console, settings, ["run", "--select", "delivery_integrity_history"])
    with connection.connect(settings) as conn:
        final = integrity.check(conn)
        print_check(console, final)
        print_summary(console, conn)
    unlinked = [category for category in final.categories if category.delivery_user == "NULL" and category.deliveries]
    console.print(
        f"{sum(c.deliveries for c in unlinked):,} deliveries have no user, "
        f"{final.inconsistent_deliveries:,} of them the defect:"
    )
    for category in unlinked:
        console.print(f"  {category.deliveries:,} {category.name}: {category.description}", soft_wrap=True)
    console.print(
        f"\nDemo database [bold]{DEMO_DATABASE}[/] is left on the embedded server: "
        "`linkage check`, `linkage validate`, `linkage report` use it by default; "
        '`eval "$(.venv/bin/linkage db env)"` then psql or dbt (`make docs` opens the dbt docs).'
    )
    return 0 if final.status == "healthy" and passing.returncode == 0 else 1


COUNT_LABELS = {
    "users": "users",
    "events": "events",
    "messages": "messages",
    "event_guests": "guests (event_guests)",
    "message_deliveries": "deliveries (message_deliveries)",
    "linkable_null": "of them linkable but NULL (the defect)",
}
TRAFFIC_LABELS = {
    "messages_sent": "announcements sent",
    "deliveries_inserted": "deliveries inserted",
    "guests_linked_one_by_one": "guests linked one by one",
    "guests_linked_in_bulk": "guests linked in one bulk update",
}


def queue_size(conn) -> int:
    return conn.execute(f"select count(*) from {private_schema()}.guest_link_queue").fetchone()[0]


def settle(conn, seconds: float = 10.0) -> None:
    """Waits until the sweeper has emptied its queue (it runs in the background), at most `seconds`."""
    deadline = time.monotonic() + seconds
    while queue_size(conn) and time.monotonic() < deadline:
        time.sleep(0.2)


def race_with_the_sweeper(console: Console, settings) -> None:
    """A guest is linked in one transaction while a send to it is written in another: neither sees the
    other's row, so the send's delivery is committed NULL; the guest link's queue entry tells the
    sweeper, which links it once both transactions are over."""
    schema = app_schema()
    with connection.connect(settings) as conn:
        guest, event = conn.execute(
            f"select g.id, g.event_id from {schema}.event_guests g where g.user_id is null and g.removed_at is null "
            f"and exists (select from {schema}.messages m where m.event_id = g.event_id) order by g.id limit 1"
        ).fetchone()
        user = conn.execute(f"insert into {schema}.users (phone) values (null) returning id").fetchone()[0]
        message = conn.execute(
            f"insert into {schema}.messages (event_id, body) values (%s, 'Doors open at six') returning id", (event,)
        ).fetchone()[0]
        with connection.connect(settings) as linker, connection.connect(settings) as sender:
            linker.execute("begin")
            linker.execute(f"update {schema}.event_guests set user_id = %s where id = %s", (user, guest))
            sender.execute("begin")
            delivery = sender.execute(
                f"insert into {schema}.message_deliveries (message_id, guest_id) values (%s, %s) returning id",
                (message, guest),
            ).fetchone()[0]
            sender.execute("commit")
            linker.execute("commit")
        linked_at_commit = conn.execute(
            f"select user_id is not null from {schema}.message_deliveries where id = %s", (delivery,)
        ).fetchone()[0]
        console.print(
            f"guest linked and a delivery sent to it in two overlapping transactions: the delivery "
            f"{'was linked at once' if linked_at_commit else 'was committed with no user'}; "
            f"queue entries: {queue_size(conn)}"
        )
        settle(conn)
        rows = conn.execute(
            f"select table_name, outcome, reason from {schema}.user_link_audit_of(%s) order by created_at", (delivery,)
        ).fetchall()
        user_now = conn.execute(
            f"select user_id from {schema}.message_deliveries where id = %s", (delivery,)
        ).fetchone()[0]
        console.print(
            f"after the sweeper: user_id {'set' if user_now == user else 'STILL NULL'}; its audit: "
            + "; ".join(" / ".join(row) for row in rows)
        )


def figures_table(title: str, figures: dict[str, int], labels: dict[str, str]) -> Table:
    """Two columns, label and figure, in the order of `figures`."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in figures.items():
        table.add_row(labels.get(key, key.replace("_", " ")), f"{value:,}")
    return table


def print_check(console: Console, report) -> None:
    colour = {"healthy": "green", "warning": "yellow", "critical": "red"}[report.status]
    console.print(
        f"total {report.total_deliveries:,}  linkable but NULL {report.inconsistent_deliveries:,} "
        f"({report.inconsistency_percentage}%)  status [bold {colour}]{report.status}[/] (exit {report.exit_status})"
    )
    console.print(
        "  categories (the last dbt build's): "
        + ", ".join(f"{category.name} {category.deliveries:,}" for category in report.categories if category.deliveries)
        + f" (= {report.categorized_deliveries:,})",
        soft_wrap=True,
    )


def print_summary(console: Console, conn) -> None:
    schema = app_schema()
    table = Table(title="How deliveries were linked (user_link_audit)")
    for column in ("table_name", "outcome", "reason", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for table_name, outcome, reason, count in conn.execute(
        f"""
        select table_name, outcome, reason, count(*) from {schema}.user_link_audit
        group by 1, 2, 3 order by 1, 2, count(*) desc
        """
    ).fetchall():
        table.add_row(table_name, outcome, reason, f"{count:,}")
    console.print(table)
