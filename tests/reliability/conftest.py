"""Reliability suite: size (`--stress` = ten times), a private server for fault injection, the figures."""

from __future__ import annotations

import pytest
import reliability_support as rs


@pytest.fixture(scope="session")
def scale(request) -> int:
    """How many times the default size to run: 10 with --stress."""
    return 10 if request.config.getoption("--stress") else 1


@pytest.fixture(scope="session")
def private_server():
    """A throw-away PostgreSQL server of our own, which fault tests may kill (never the shared one)."""
    from fault_server import PrivateServer

    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


LEVELS = ("read_committed", "repeatable_read", "serializable")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The figures this session measured (only what its tests recorded: nothing here is a constant)."""
    figures, maxima = rs.FIGURES, rs.MAXIMA
    if not figures and not maxima:
        return
    f = figures.get
    size = "stress (10x)" if config.getoption("--stress") else "default size"
    write = terminalreporter.write_line
    terminalreporter.section(f"delivery_linkage reliability figures ({size})")
    if f("concurrency.runs"):
        transactions = f("concurrency.transactions", 0)
        levels = [level for level in LEVELS if f(f"concurrency.runs.{level}")]
        kinds = sorted((k.split(".", 2)[2], v) for k, v in figures.items() if k.startswith("concurrency.op."))
        write(
            f"concurrency   : {f('concurrency.operations', 0):.0f} operations in {transactions:.0f} app transactions, "
            f"{f('concurrency.runs'):.0f} runs x {f('concurrency.workers', 0) / f('concurrency.runs'):.0f} workers "
            f"({', '.join(level.replace('_', ' ') for level in levels)})"
        )
        write(
            f"interleavings : {f('concurrency.interleavings', 0):.0f} overlapping operation pairs across workers, "
            f"{f('concurrency.interleaving_kinds', 0):.0f} distinct kind pairs"
        )
        write("  by kind     : " + ", ".join(f"{name} {count:.0f}" for name, count in kinds))
        for level in levels:
            failures = f(f"concurrency.serialization_failures.{level}", 0)
            write(
                f"  {level.replace('_', ' '):<16}: {f(f'concurrency.transactions.{level}', 0):.0f} transactions, "
                f"{failures:.0f} serialization failures retried "
                f"({100 * failures / max(f(f'concurrency.transactions.{level}', 0), 1):.2f}%; "
                f"{f(f'concurrency.serialization_failures_by_the_linkage.{level}', 0):.0f} raised by the linkage's "
                "commit check)"
            )
        write(
            f"  errors      : {f('concurrency.deadlocks', 0):.0f} deadlocks, "
            f"{f('concurrency.unexpected_errors', 0):.0f} other errors reached the app"
        )
    if f("races.serialization_failures_retried") is not None:
        write(
            f"races         : {f('races.serialization_failures_retried'):.0f} serialization failures retried "
            "in the deterministic two-session races (REPEATABLE READ / SERIALIZABLE)"
        )
    if any(k.startswith("writes.") for k in figures):
        write(
            f"writes        : {f('writes.deliveries', 0):.0f} deliveries inserted, "
            f"{f('writes.guest_updates', 0):.0f} guest updates, {f('writes.backfill_batches', 0):.0f} backfill batches"
        )
    if any(k.startswith("faults.") for k in figures):
        write(
            f"faults        : {f('faults.immediate_shutdown', 0):.0f} immediate shutdowns "
            f"({f('faults.shutdown_mid_backfill', 0):.0f} mid historical backfill, "
            f"{f('faults.shutdown_mid_bulk_link', 0):.0f} mid bulk guest link); timeouts inside the linkage's "
            f"work: {f('faults.statement_timeout', 0):.0f} statement, {f('faults.lock_timeout', 0):.0f} lock; "
            f"{f('faults.deploy_lock_timeout', 0):.0f} deploys that hit their lock timeout"
        )
    if f("bad_input.cases"):
        write(
            f"bad input     : {f('bad_input.cases'):.0f} generated cases, "
            f"{f('bad_input.attempts', 0):.0f} attempts checked against their audit"
        )
    if f("privileges.checks"):
        write(f"privileges    : {f('privileges.checks'):.0f} writes as hosted API roles linked and audited")
    if any(k.startswith("deploy.stall_") for k in maxima):
        stalls = [
            ("baseline", "no deploy"),
            ("unchanged", "unchanged deploy"),
            ("changed", "changed deploy"),
            ("lock_timeout", "deploy that hit its lock timeout"),
            ("upgrade", "upgrade in place from the older version"),
        ]
        write(
            f"deploy (load) : {f('deploy.writer_statements', 0):.0f} writer statements, "
            f"{f('deploy.writer_failures', 0):.0f} failed; {f('deploy.changed_deploys_failed', 0):.0f} changed "
            "deploys failed"
        )
        write(
            "  worst stall : "
            + ", ".join(
                f"{label} {_ms(maxima[f'deploy.stall_{key}'])}"
                for key, label in stalls
                if f"deploy.stall_{key}" in maxima
            )
        )
    if f("checks.linkable_null"):
        write(
            f"nothing lost  : {f('checks.linkable_null_found', 0):.0f} deliveries linkable but NULL in "
            f"{f('checks.linkable_null'):.0f} checks at quiescence"
        )
