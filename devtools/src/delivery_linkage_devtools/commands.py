"""The developer tools' commands, added to the product's `linkage` (entry point `delivery_linkage.commands`):
`linkage demo`, `linkage generate`, `linkage bench`. Thin, like the product's: parse, call, print."""

from __future__ import annotations

import typer
from rich.table import Table

from delivery_linkage.database import connection


def register(app: typer.Typer) -> None:
    """Add the commands to `app` (the product's `linkage`)."""
    from delivery_linkage.cli import console, fail, open_connection, progress_bar

    @app.command()
    def demo(
        deliveries: int = typer.Option(20000, help="size of the synthetic history"),
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
        if quick:  # a smoke run never replaces the published figures in bench/results/
            overrides["output_dir"] = overrides["flagged_dir"] = bench_module.CHECKOUT_DIR / "target" / "bench-quick"
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
        from delivery_linkage_devtools import app_fixture, synthetic

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
                    conn,
                    synthetic.WorldShape(deliveries=deliveries, late_link_share=late_link_share, seed=seed),
                    advance,
                )
            except ValueError as error:  # synthetic.WorldExists among them: names --seed and --fresh
                fail(str(error))
        table = Table(title=f"Written to {settings.describe()}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in counts.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
