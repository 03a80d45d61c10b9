"""The interleaving checker (issue 15, item 4): the linkage proven as PostgreSQL's isolation tester
proves concurrent behaviour.

`python -m delivery_linkage_devtools.interleavings` (`make interleavings`):
1. builds two template databases: the app fixture with the linkage deployed by dbt (`linkage`), and
   the same app fixture without it (`control`); each worker gets a copy of both (databases.py);
2. enumerates the cases: every unordered pair of the app's operations (operations.py, one spec each),
   every interleaving of their two sessions' steps, at each isolation level, with the users fallback
   off and on (space.py);
3. runs each case on both databases, in a world of fresh ids built before it (world.py): the steps
   sent asynchronously, a blocked step detected and recorded as waiting while the other session goes
   on (sessions.py); then the sweeper, if the deployment has one; then the invariants at quiescence
   (concurrency/invariants.py) and the comparison with the control (verdict.py);
4. prints the number of cases and of failures, each failure with its permutation and both outcomes,
   and writes bench/results/interleavings.{json,md} with the command and the machine (report.py).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from rich.console import Console

from delivery_linkage.database import connection
from delivery_linkage_devtools import CHECKOUT_DIR, doc_blocks
from delivery_linkage_devtools.concurrency import machine
from delivery_linkage_devtools.interleavings import databases, report, space
from delivery_linkage_devtools.interleavings.databases import CONTROL, LINKAGE, CaseDatabase
from delivery_linkage_devtools.interleavings.sessions import transcript_text
from delivery_linkage_devtools.interleavings.space import Case
from delivery_linkage_devtools.interleavings.verdict import judge
from delivery_linkage_devtools.interleavings.world import CaseWorld

OUTPUT_DIR = CHECKOUT_DIR / "bench" / "results"

Prepare = Callable[[psycopg.Connection], None]


@dataclass
class InterleavingOptions:
    levels: tuple[str, ...] = space.LEVELS
    fallbacks: tuple[bool, ...] = space.FALLBACKS
    pairs: set[tuple[str, str]] | None = None  # None: every pair
    case_numbers: set[int] | None = None  # only these cases (numbered over the chosen levels and pairs)
    workers: int = 2
    prefix: str = "interleavings"
    output_dir: Path | None = OUTPUT_DIR
    output_name: str = "interleavings"
    command: str = ""
    keep_databases: bool = False
    print_failures: bool = True
    extra: dict = field(default_factory=dict)


def run(
    options: InterleavingOptions,
    server: connection.ConnectionSettings | None = None,
    linkage_template: str | None = None,
    alter_linkage: Prepare | None = None,
    console: Console | None = None,
) -> dict:
    """Runs the cases and reports. `linkage_template`: a database with the linkage deployed to copy
    (the tests pass theirs; default: one built here with dbt). `alter_linkage` is applied to every
    worker's linkage database before the cases (the tests sabotage it to prove the checker can fail)."""
    console = console or Console(stderr=True)
    server = server or connection.resolve("postgres")
    started = time.perf_counter()
    cases = space.cases(levels=options.levels, only_pairs=options.pairs, fallbacks=options.fallbacks)
    if options.case_numbers:
        cases = [case for case in cases if case.number in options.case_numbers]
    workers = max(1, min(options.workers, len(cases)))
    with databases.case_databases(
        server,
        workers,
        options.prefix,
        linkage_template=linkage_template,
        alter_linkage=alter_linkage,
        keep=options.keep_databases,
        target_path=f"target/{options.prefix}",
        announce=lambda text: console.print(f"interleavings: {text}"),
    ) as worker_databases:
        with connection.connect(server.with_database(worker_databases[0][LINKAGE])) as conn:
            about = machine(conn)
            sweeper = conn.execute("select to_regprocedure(%s) is not null", (databases.SWEEPER,)).fetchone()[0]
        setup_seconds = time.perf_counter() - started
        console.print(f"interleavings: {len(cases):,} cases on {workers} worker(s)…")
        records = execute(server, worker_databases, cases, console, transcripts=bool(options.case_numbers))
    seconds = time.perf_counter() - started
    about["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result = report.summarise(records, cases, options, about, seconds, setup_seconds, workers, bool(sweeper))
    for record in records:
        for variant, text in record.get("transcripts", {}).items():
            console.print(
                f"case {record['case']} on {variant}:\n{text}\n", markup=False, highlight=False, soft_wrap=True
            )
    report.print_summary(console, result, print_failures=options.print_failures)
    if options.output_dir:
        json_path, md_path = report.write(result, options.output_dir, options.output_name)
        console.print(f"interleavings: results in {json_path} and {md_path}")
        publish_figures(console, options, result)
    return result


def publish_figures(console: Console, options: InterleavingOptions, result: dict) -> None:
    """The published run (`make interleavings`: the whole space, bench/results/interleavings.json) writes
    its figures into README.md and bench/INTERLEAVINGS.md (doc_blocks); a part of the space does not."""
    whole = (
        options.pairs is None
        and not options.case_numbers
        and tuple(options.levels) == tuple(space.LEVELS)
        and tuple(options.fallbacks) == tuple(space.FALLBACKS)
    )
    published = (
        options.output_name == "interleavings" and options.output_dir.resolve() == doc_blocks.RESULTS_DIR.resolve()
    )
    if not whole or not published:
        return
    for path in doc_blocks.publish("make interleavings", result):
        console.print(f"interleavings: updated {path} (between the make interleavings markers)")


def execute(
    server, worker_databases: list[dict], cases: list[Case], console: Console, transcripts: bool = False
) -> list[dict]:
    """Each worker runs every n-th case on its own databases; one worker runs in this process."""
    if len(worker_databases) == 1:
        return run_cases(server, worker_databases[0], cases, transcripts=transcripts)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(target=worker_main, args=(server, names, cases[index :: len(worker_databases)], results))
        for index, names in enumerate(worker_databases)
    ]
    for process in processes:
        process.start()
    records: list[dict] = []
    last = time.monotonic()
    finished = 0
    try:
        while finished < len(processes):
            try:
                item = results.get(timeout=5)
            except queue.Empty:
                if not any(process.is_alive() for process in processes):
                    raise RuntimeError("every interleavings worker stopped before reporting its end") from None
                continue
            if item is None:
                finished += 1
            elif isinstance(item, str):
                raise RuntimeError(f"an interleavings worker failed:\n{item}")
            else:
                records.append(item)
            if time.monotonic() - last > 15:
                last = time.monotonic()
                failing = sum(1 for record in records if record["failures"])
                console.print(f"  {len(records):,}/{len(cases):,} cases, {failing:,} failing")
    finally:
        for process in processes:
            if process.is_alive() and finished < len(processes):
                process.terminate()
            process.join()
    return sorted(records, key=lambda record: record["case"])


def worker_main(server, names: dict, cases: list[Case], results) -> None:
    try:
        run_cases(server, names, cases, results.put)
    except BaseException:
        import traceback

        results.put(traceback.format_exc())
    finally:
        results.put(None)


def run_cases(
    server, names: dict, cases: list[Case], emit: Callable[[dict], None] | None = None, transcripts: bool = False
) -> list[dict]:
    """Runs `cases` on one worker's databases; each case's record goes to `emit`, else is returned.
    `transcripts`: each record keeps both runs as the isolation tester prints them."""
    linkage = CaseDatabase(server.with_database(names[LINKAGE]), LINKAGE)
    control = CaseDatabase(server.with_database(names[CONTROL]), CONTROL)
    records = []
    try:
        for case in cases:
            world = CaseWorld.fresh()
            runs = {CONTROL: control.run(case, world), LINKAGE: linkage.run(case, world)}
            failures, notes = judge(case, world, runs[LINKAGE], runs[CONTROL])
            record = report.case_record(case, runs, failures, notes)
            if transcripts:
                record["transcripts"] = {
                    variant: transcript_text(run.schedule.transcript) for variant, run in runs.items()
                }
            if emit:
                emit(record)
            else:
                records.append(record)
    finally:
        linkage.close()
        control.close()
    return records


def command_line() -> str:
    return " ".join(["python -m delivery_linkage_devtools.interleavings", *(shlex.quote(a) for a in sys.argv[1:])])
