"""The developer tools' commands, added to the product's `linkage` (entry point `delivery_linkage.commands`):
`linkage demo`, `linkage generate`, `linkage bench`. Thin, like the product's: parse, call, print."""

from __future__ import annotations

import re

import typer
from rich.table import Table

from delivery_linkage.cli_types import finite_number, whole_number
from delivery_linkage.database import connection

# checked when the command line is parsed, as the product's options (delivery_linkage.cli_types)
DELIVERIES = whole_number(0, 100_000_000, "deliveries")
SHARE = finite_number(0, 1, "a share")
SEED = whole_number(0, 2**31 - 1, "a seed")
JOBS = whole_number(1, 64, "connections")


def register(app: typer.Typer) -> None:
    """Add the commands to `app` (the product's `linkage`)."""
    from delivery_linkage.cli import console, fail, open_connection, progress_bar

    @app.command()
    def demo(
        deliveries: int = typer.Option(
            20000, parser=DELIVERIES, metavar="N", help="size of the synthetic history (0 to 100,000,000)"
        ),
    ):
        """Build the demo database on the embedded server and tell the whole story."""
        from delivery_linkage_devtools import demo as demo_module

        try:
            code = demo_module.run(console, deliveries=deliveries)
        except connection.ConnectionError_ as error:
            fail(str(error))
        raise typer.Exit(code)

    @app.command()
    def bench(
        quick: bool = typer.Option(False, "--quick", help="small sizes: a smoke run in seconds"),
        experiment: list[str] = typer.Option(None, "--experiment", help="NAME=a.sql+b.sql: also measure a variant"),
        workload: list[str] = typer.Option(None, "--workload", help="only these workloads (repeatable)"),
        keep: bool = typer.Option(False, "--keep", help="keep the bench_* databases"),
    ):
        """Benchmark the linkage against the floor (no linkage) and the runbook's straightforward design."""
        from delivery_linkage_devtools import bench as bench_module

        overrides = {"keep_databases": keep}
        # a smoke run, or a run of some workloads, never replaces the published figures in bench/results/
        if quick or workload:
            folder = "bench-quick" if quick else "bench-partial"
            overrides["output_dir"] = overrides["flagged_dir"] = bench_module.CHECKOUT_DIR / "target" / folder
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

    @app.command("bench-scale")
    def bench_scale(
        sizes: str = typer.Option("10M,100M", "--sizes", help="deliveries per world, e.g. 10M,100M or 2M"),
        rounds: int = typer.Option(3, "--rounds", min=1, help="measured rounds of each query and command"),
        quick: bool = typer.Option(
            False, "--quick", help="one tiny world, one round: a smoke run (results in target/)"
        ),
        keep_work: bool = typer.Option(False, "--keep-work", help="keep the working copy (bench_scale_work)"),
    ):
        """The data team's hourly work at 10M and 100M deliveries: dbt build, linkage check and report, the
        integrity figures beside the runbook's daily query, the app's latency while dbt build runs."""
        from delivery_linkage_devtools import world_template
        from delivery_linkage_devtools.bench import scale

        if quick:
            options = scale.ScaleOptions.quick(keep_work=keep_work)
        else:
            try:
                parsed = tuple(parse_count(part) for part in sizes.split(",") if part.strip())
            except ValueError as error:
                fail(str(error), code=64)
            command = "make bench-scale" + (f" BENCH_SCALE_ARGS='--sizes {sizes}'" if sizes != "10M,100M" else "")
            options = scale.ScaleOptions(sizes=parsed, rounds=rounds, keep_work=keep_work, command=command)
        try:
            scale.run(console, options)
        except (connection.ConnectionError_, world_template.TemplateError) as error:
            fail(str(error))

    def parse_count(text: str) -> int:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
        if not match:
            raise ValueError(f"not a number of deliveries: {text!r} (e.g. 10M, 500k, 2000000)")
        factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
        return int(float(match.group(1)) * factor)

    @app.command()
    def generate(
        deliveries: int = typer.Option(
            ..., "--deliveries", parser=DELIVERIES, metavar="N", help="how many deliveries to write (0 to 100,000,000)"
        ),
        production: bool = typer.Option(
            False, "--production", help="a successful app's shape: 200-600 messages per event, ~250k guests per 100M"
        ),
        template: str = typer.Option(
            None,
            "--template",
            metavar="NAME",
            help="build database NAME holding only this world, kept as a template: indexes after the rows, "
            "--jobs writers, resumable (run again to continue), reused when complete",
        ),
        jobs: int = typer.Option(
            2, "--jobs", parser=JOBS, metavar="N", help="(--template) connections writing at once (1 to 64)"
        ),
        late_link_share: float = typer.Option(
            None,
            parser=SHARE,
            metavar="SHARE",
            help="share of linked guests linked after their deliveries (0 to 1; default 0.15, --production 0.002)",
        ),
        seed: int = typer.Option(42, parser=SEED, metavar="N", help="same seed, same world"),
        fresh: bool = typer.Option(
            False, "--fresh", help="recreate the database first (embedded server only; --template: any server)"
        ),
    ):
        """Write synthetic history into the app tables (set-based; 1M deliveries in about 20 s on 2 cores),
        or build a template database holding it (--template: 100M deliveries in about 20 minutes)."""
        from delivery_linkage_devtools import app_fixture, synthetic

        overrides = {} if late_link_share is None else {"late_link_share": late_link_share}
        try:
            shape = (
                synthetic.WorldShape.production(deliveries, seed=seed, **overrides)
                if production
                else synthetic.WorldShape(deliveries=deliveries, seed=seed, **overrides)
            )
        except ValueError as error:
            fail(str(error))
        if template:
            build_template(template, shape, jobs, fresh)
            return
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
                counts = synthetic.generate(conn, shape, advance)
            except ValueError as error:  # synthetic.WorldExists among them: names --seed and --fresh
                fail(str(error))
        console.print(counts_table(f"Written to {settings.describe()}", counts))

    def build_template(name: str, shape, jobs: int, fresh: bool) -> None:
        from delivery_linkage_devtools import world_template

        try:
            server = connection.resolve("postgres")
        except connection.ConnectionError_ as error:
            fail(str(error))
        disk = world_template.disk_check(server, shape)
        console.print(
            f"template {name} on {server.with_database(name).describe()}: {shape.deliveries:,} deliveries, "
            f"about {world_template.gib(world_template.estimate_bytes(shape))} when built; the build " + disk.describe()
        )
        with progress_bar() as bar:
            tasks: dict[str, int] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            try:
                result = world_template.build(server, name, shape, advance, jobs=jobs, fresh=fresh)
            except world_template.TemplateError as error:
                fail(str(error))
        console.print(counts_table(f"Template {name}", result.counts))
        size = world_template.gib(result.size_bytes) if result.size_bytes else "?"
        if result.reused:
            console.print(f"{name} was complete already ({size}): nothing written")
            return
        phases = ", ".join(f"{phase} {seconds:,.0f} s" for phase, seconds in result.seconds.items())
        console.print(
            f"{'finished' if result.resumed else 'built'} {name} ({size}): {result.deliveries_written:,} deliveries"
            f" written in {result.total_seconds:,.0f} s, {result.deliveries_per_second or 0:,.0f} deliveries/s"
            f" overall, rows {result.rows_per_second or 0:,.0f}/s ({phases}; {jobs} jobs)"
        )

    def counts_table(title: str, counts: dict[str, int]) -> Table:
        table = Table(title=title)
        table.add_column("table")
        table.add_column("rows", justify="right")
        for key, count in counts.items():
            table.add_row(key, f"{count:,}")
        return table
