"""Concurrency: the app's mixed workload on many connections at once, with the linkage and its sweeper,
through the one concurrency harness (delivery_linkage_devtools.concurrency, `make concurrency`).

The harness builds a world from the seed (users, events, guests, a history), deploys the linkage with
dbt, and runs a reproducible plan: sends (one row, several, a whole event, by phone only), the app's
upsert RPC and its ON CONFLICT path (with and without a user of the app's), status callbacks, guests
linked, signed up, unlinked, relinked, removed, restored and linked in bulk, phone and name edits,
flag flips and linking switched off and on, users deleted, held and edited; each an app transaction
at READ COMMITTED (70 %), REPEATABLE READ or SERIALIZABLE (15 % each), retried on a serialization
failure or a deadlock as an app retries, with the sweeper beside them every second and, at the end,
until its queue is empty. At quiescence this test asserts:
- the harness's invariants (invariants.check and the linkage run's own, check_linkage_run): nothing
  linkable but NULL once the sweeper has run (but what the linkage audited as skipped while linking was
  off); every link audited, its latest audit row naming the delivery's user; every insert without a user
  audited; every user one its guest had at some point (or, naming no guest, one a guest of the event
  had with that phone, or a user with that phone), never through a guest of another event; no user
  that does not exist; the linkage's per-transaction notes gone; every audit row in the vocabulary;
- every operation committed (within its retries): no error reached the app at READ COMMITTED, not
  even a serialization failure or a deadlock; no deadlock at any level (but between two of the app's
  own bulk links, which lock their guests in the order they come); the linkage raised no serialization
  failure of its own and no WARNING (an error it swallowed);
- the sweeper's passes all succeeded and emptied the queue; the operations really overlapped.
Default size: 3,000 operations on 6 connections; `--stress` runs ten times as many. The seed is printed
with the run; RELIABILITY_SEED=<n> replays a run's plan.
"""

from __future__ import annotations

import os
import random
import uuid

import pytest
import reliability_support as rs

from delivery_linkage_devtools import concurrency
from delivery_linkage_devtools.concurrency import report

pytestmark = [pytest.mark.reliability, pytest.mark.dbt]

CONNECTIONS = 6
OPERATIONS = 3000  # times --stress
SEED = int(os.environ.get("RELIABILITY_SEED") or random.randrange(1, 1_000_000))
# the app's own transactions that may deadlock each other without the linkage (a bulk link locks its
# guests in the order it lists them)
APP_OWN_DEADLOCKS = ("bulk_link",)
def run_linkage(server, operations: int, seed: int, prepare=None) -> dict:
    """The harness's linkage run (with its sweeper) of `operations` operations: its figures."""
    options = concurrency.ConcurrencyOptions.quick(
        operations=operations,
        connections=CONNECTIONS,
        seed=seed,
        variants=(report.LINKAGE,),
        prefix=f"linkage_test_reliability_{uuid.uuid4().hex[:6]}",
        output_dir=None,
    )
    return concurrency.run(options, server=server, prepare={report.LINKAGE: prepare} if prepare else None)


def problems_at_quiescence(run: dict) -> list[str]:
    """Every way the run breaks what the linkage promises; [] when it keeps it all."""
    problems = []
    found = run["invariants"]
    own = found["linkage_run"]
    for name in ("linkable_null", "link_without_audit", "dangling_user"):
        if found[name]:
            problems.append(f"invariant {name}: {found[name]}, e.g. {found['examples'][name]}")
    for name, count in own.items():
        if name not in ("examples", "total") and count:
            problems.append(f"invariant {name}: {count}, e.g. {own['examples'][name]}")
    if run["failed"]:
        problems.append(f"errors reached the app (by SQLSTATE and level): {run['failed']}, {run['error_examples']}")
    at_read_committed = report.app_errors_at(run, "read committed")
    if at_read_committed:
        problems.append(f"a READ COMMITTED app saw (retried or not): {at_read_committed}")
    deadlocks = {
        source: count
        for source, count in run["retry_sources"].items()
        if "deadlock" in source and source.split(" | ")[0] not in APP_OWN_DEADLOCKS
    }
    if deadlocks:
        problems.append(f"deadlocks: {deadlocks}")
    own_failures = {s: c for s, c in run["retry_sources"].items() if s.split(" | ")[1].startswith("delivery_linkage:")}
    if own_failures:
        problems.append(f"the linkage raised serialization failures of its own: {own_failures}")
    if run["linkage_warnings"]:
        problems.append(f"the linkage swallowed errors (WARNINGs): {run['linkage_warnings']}")
    sweeper = run["sweeper"]
    if sweeper["failed_passes"] or sweeper["left_after_drain"] != 0:
        problems.append(
            f"the sweeper: failed passes {sweeper['failed_passes']} {sweeper['error_examples']}, "
            f"{sweeper['left_after_drain']} entries left after its drain"
        )
    if run["linkable_null"]["still_null_at_end"]:
        problems.append(f"{run['linkable_null']['still_null_at_end']} deliveries linkable but NULL at the end")
    return problems


def record_figures(run: dict) -> None:
    """The run's figures, for the reliability suite's summary (conftest.py)."""
    rs.add("concurrency.runs")
    rs.add("concurrency.workers", CONNECTIONS)
    rs.add("concurrency.operations", run["operations"])
    for kind, count in run["operations_by_kind"].items():
        rs.add(f"concurrency.op.{kind}", count)
    for level, transactions in run["transactions_by_isolation"].items():
        key = level.replace(" ", "_")
        failures = run["retried"].get("40001", {}).get(level, 0)
        rs.add(f"concurrency.runs.{key}")
        rs.add(f"concurrency.transactions.{key}", transactions)
        rs.add("concurrency.transactions", transactions)
        rs.add(f"concurrency.serialization_failures.{key}", failures)
    rs.add("concurrency.deadlocks", sum(run["retried"].get("40P01", {}).values()))
    rs.add("concurrency.unexpected_errors", sum(sum(levels.values()) for levels in run["failed"].values()))
    rs.add("concurrency.interleavings", run["overlapping_operations"]["pairs"])
    rs.FIGURES["concurrency.interleaving_kinds"] = max(
        rs.FIGURES["concurrency.interleaving_kinds"], run["overlapping_operations"]["kind_pairs"]
    )
    rs.add("checks.linkable_null")
    rs.add("checks.linkable_null_found", run["invariants"]["linkable_null"])


def test_the_apps_mixed_workload_on_concurrent_connections_leaves_every_invariant_at_quiescence(server, scale):
    run = run_linkage(server, OPERATIONS * scale, SEED)["runs"][report.LINKAGE]
    record_figures(run)
    print(
        f"concurrency: seed {SEED}, {run['operations']} operations, {run['transactions_by_isolation']}, "
        f"retried {run['retried']}, {run['overlapping_operations']} overlapping"
    )

    assert run["committed"] == run["operations"] == OPERATIONS * scale
    assert run["overlapping_operations"]["pairs"] > run["operations"], "the connections hardly overlapped"
    problems = problems_at_quiescence(run)
    assert not problems, f"seed {SEED}:\n" + "\n".join(problems)
