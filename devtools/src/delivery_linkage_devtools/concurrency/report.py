"""Figures of a run, the side-by-side comparison, and its JSON / table / markdown forms."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from delivery_linkage_devtools import results_files
from delivery_linkage_devtools.concurrency.plan import INSERT_KINDS, ISOLATION_LEVELS
from delivery_linkage_devtools.concurrency.runner import RETRIED, RunOutcome

CONTROL, MINIMAL_TRIGGER, LINKAGE = "control", "minimal_trigger", "linkage"
RUNS = (CONTROL, MINIMAL_TRIGGER, LINKAGE)
RUN_LABELS = {
    CONTROL: "control (no linkage triggers)",
    MINIMAL_TRIGGER: "minimal trigger",
    LINKAGE: "linkage",
}
# issue 15's targets, against the minimal-trigger run of the same plan
THROUGHPUT_MIN_RATIO = 0.9
P99_MAX_RATIO = 1.25
P99_MIN_OPERATIONS = 100  # a kind's p99 is judged when both runs committed at least this many
SERIALIZATION_MAX_RATIO = 1.2
LOCK_WAIT_MS = 10.0
LOCK_WAITS_MAX_RATIO = 1.2
MIN_OPERATIONS_FOR_INVARIANTS = 100_000
LINKABLE_NULL_MAX_SECONDS = 5.0
# the runs are made one after the other: the control does strictly less than the minimal trigger, so a
# control slower than this share of the minimal trigger's throughput means the machine changed between
# them, and every ratio of the run is doubtful
CONTROL_MIN_THROUGHPUT_RATIO = 0.9
SHORT_ISOLATION = {"read committed": "RC", "repeatable read": "RR", "serializable": "SER"}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def distribution(values_seconds: list[float]) -> dict:
    ms = [v * 1000 for v in values_seconds]
    return {
        "count": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else None,
    }


def overlaps(outcome: RunOutcome) -> dict:
    """Pairs of operations of different connections that ran at the same time, and how many kinds of
    pair (sorted operation kinds): the run interleaved what it says it did."""
    spans = sorted(
        (r.started, r.started + r.seconds, r.kind, worker.index) for worker in outcome.workers for r in worker.results
    )
    pairs, kinds, active = 0, set(), []
    for started, ended, kind, worker in spans:
        active = [span for span in active if span[1] > started]
        for _, _, other_kind, other_worker in active:
            if other_worker != worker:
                pairs += 1
                kinds.add(tuple(sorted((kind, other_kind))))
        active.append((started, ended, kind, worker))
    return {"pairs": pairs, "kind_pairs": len(kinds)}


def summarise(outcome: RunOutcome) -> dict:
    """The figures of one run (everything but the invariants, which the caller adds)."""
    results = [r for worker in outcome.workers for r in worker.results]
    committed = [r for r in results if r.error is None]
    retried: dict[str, Counter] = defaultdict(Counter)
    failed: dict[str, Counter] = defaultdict(Counter)
    retried_by_kind: dict[str, Counter] = defaultdict(Counter)
    failed_by_kind: dict[str, Counter] = defaultdict(Counter)
    transactions = Counter(r.isolation for r in results)
    attempts = Counter()
    for r in results:
        attempts[r.isolation] += 1 + len(r.retries)
        for state in r.retries:
            retried[state][r.isolation] += 1
            retried_by_kind[state][r.kind] += 1
        if r.error:
            failed[r.error][r.isolation] += 1
            failed_by_kind[r.error][r.kind] += 1
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in committed:
        by_kind[r.kind].append(r.seconds)
    latency = {kind: distribution(values) for kind, values in sorted(by_kind.items())}
    latency["all_inserts"] = distribution([r.seconds for r in committed if r.kind in INSERT_KINDS])
    latency["all"] = distribution([r.seconds for r in committed])
    waits = outcome.lock_waits
    by_lock: dict[str, list[float]] = defaultdict(list)
    for wait in waits:
        by_lock[wait.lock].append(wait.seconds)
    # the waits over LOCK_WAIT_MS, by isolation level, lock and the operation that waited
    long_waits: dict[str, Counter] = defaultdict(Counter)
    long_waits_behind: dict[str, Counter] = defaultdict(Counter)
    for wait in waits:
        if wait.seconds * 1000 > LOCK_WAIT_MS:
            long_waits[wait.isolation][f"{wait.lock} | {wait.kind}"] += 1
            long_waits_behind[wait.isolation][f"{wait.kind} behind {wait.behind}"] += 1
    warnings = Counter()
    for worker in outcome.workers:
        warnings.update(worker.linkage_warnings)
    examples = {}
    for worker in outcome.workers:
        for state, text in worker.error_examples.items():
            examples.setdefault(state, text)
    retry_sources = Counter()
    for worker in outcome.workers:
        retry_sources.update(worker.retry_sources)
    return {
        "retry_sources": dict(retry_sources.most_common()),
        "seconds": outcome.seconds,
        "operations": len(results),
        "committed": len(committed),
        "throughput_ops_per_s": len(committed) / outcome.seconds if outcome.seconds else None,
        "transactions_by_isolation": dict(transactions),
        "attempts_by_isolation": dict(attempts),
        "operations_by_kind": dict(Counter(r.kind for r in results)),
        "retried": {state: dict(counts) for state, counts in sorted(retried.items())},
        "failed": {state: dict(counts) for state, counts in sorted(failed.items())},
        "retried_by_kind": {state: dict(counts.most_common()) for state, counts in sorted(retried_by_kind.items())},
        "failed_by_kind": {state: dict(counts.most_common()) for state, counts in sorted(failed_by_kind.items())},
        "error_examples": examples,
        "latency": latency,
        "lock_waits": {
            "method": "pg_locks sampled every sample_interval s; a wait = (pid, waitstart), "
            "duration = last seen waiting - waitstart",
            "samples": outcome.lock_samples,
            "effective_interval_ms": 1000 * outcome.seconds / max(outcome.lock_samples, 1),
            "waits_seen": len(waits),
            "total_seconds": sum(w.seconds for w in waits),
            "waiting_share": outcome.waiting_backend_samples / max(outcome.lock_samples * outcome.backends, 1),
            **{k: v for k, v in distribution([w.seconds for w in waits]).items() if k != "count"},
            "by_lock": {name: {"waits": len(v), "total_seconds": sum(v)} for name, v in sorted(by_lock.items())},
            f"over_{LOCK_WAIT_MS:g}_ms": {
                level: dict(counts.most_common()) for level, counts in sorted(long_waits.items())
            },
            f"over_{LOCK_WAIT_MS:g}_ms_behind": {
                level: dict(counts.most_common()) for level, counts in sorted(long_waits_behind.items())
            },
        },
        "linkable_null": outcome.linkable_null,
        "sweeper": outcome.sweeper,
        "linkage_warnings": dict(warnings),
        "app_written_links": sum(len(w.app_links) for w in outcome.workers),
        "overlapping_operations": overlaps(outcome),
    }


def errors_by_isolation(run: dict, states: tuple[str, ...] | None = None, failed: bool = False) -> dict[str, int]:
    source = run["failed" if failed else "retried"]
    totals: Counter = Counter()
    for state, counts in source.items():
        if states is None or state in states:
            totals.update(counts)
    return {level: totals.get(level, 0) for level in ISOLATION_LEVELS}


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return None if a == 0 else math.inf
    return a / b


def app_errors_at(run: dict, level: str = "read committed") -> dict[str, int]:
    """What the app saw at one isolation level, by SQLSTATE: errors not retried, and the retried
    deadlocks and serialization failures (each attempt)."""
    errors: Counter = Counter()
    for state, counts in run["failed"].items():
        errors[state] += counts.get(level, 0)
    for state in RETRIED:
        errors[state] += run["retried"].get(state, {}).get(level, 0)
    return {state: count for state, count in sorted(errors.items()) if count}


def long_lock_waits(run: dict, level: str = "read committed", behind: bool = False) -> dict[str, int]:
    """The waits over LOCK_WAIT_MS at one level: by lock and waiting operation, or (behind) by waiting
    operation and what it waited behind."""
    key = f"over_{LOCK_WAIT_MS:g}_ms" + ("_behind" if behind else "")
    return run["lock_waits"].get(key, {}).get(level, {})


def drift(runs: dict[str, dict]) -> dict:
    """Whether the references held still across the runs (made one after the other)."""
    if CONTROL not in runs or MINIMAL_TRIGGER not in runs:
        return {"doubtful": False, "rule": None, "value": None}
    value = ratio(runs[CONTROL]["throughput_ops_per_s"], runs[MINIMAL_TRIGGER]["throughput_ops_per_s"])
    return {
        "rule": f"the control (no trigger) reaches ≥ {CONTROL_MIN_THROUGHPUT_RATIO:g}× the minimal trigger's "
        "throughput: it does strictly less work, so below that the machine changed between the runs",
        "value": value,
        "doubtful": value is not None and value < CONTROL_MIN_THROUGHPUT_RATIO,
    }


def targets(runs: dict[str, dict]) -> list[dict]:
    """Issue 15's targets, judged on the linkage run against the minimal-trigger run of the same plan
    (and, for the checker, on the control). Each: key, target, minimal_trigger, linkage, met, detail."""
    minimal, linkage, control = runs[MINIMAL_TRIGGER], runs[LINKAGE], runs.get(CONTROL)
    result: list[dict] = []

    def add(key, text, minimal_value, linkage_value, met, detail="", ratio_value=None):
        result.append(
            {
                "key": key,
                "target": text,
                "minimal_trigger": minimal_value,
                "linkage": linkage_value,
                "ratio": ratio_value,
                "met": met,
                "detail": detail,
            }
        )

    throughput = ratio(linkage["throughput_ops_per_s"], minimal["throughput_ops_per_s"])
    add(
        "throughput",
        f"throughput ≥ {THROUGHPUT_MIN_RATIO:g}× the minimal trigger's",
        minimal["throughput_ops_per_s"],
        linkage["throughput_ops_per_s"],
        throughput is not None and throughput >= THROUGHPUT_MIN_RATIO,
        ratio_value=throughput,
    )
    kinds = sorted(set(minimal["latency"]) | set(linkage["latency"]))
    for kind in kinds:
        m, link = minimal["latency"].get(kind, {}), linkage["latency"].get(kind, {})
        counts = (m.get("count", 0), link.get("count", 0))
        r = ratio(link.get("p99_ms"), m.get("p99_ms"))
        judged = min(counts) >= P99_MIN_OPERATIONS
        add(
            f"p99:{kind}",
            f"p99 latency, {kind} ≤ {P99_MAX_RATIO:g}×",
            m.get("p99_ms"),
            link.get("p99_ms"),
            (r is not None and r <= P99_MAX_RATIO) if judged else None,
            f"{counts[0]:,} / {counts[1]:,} committed"
            + ("" if judged else f": not judged (fewer than {P99_MIN_OPERATIONS})"),
            r,
        )
    for level in ("repeatable read", "serializable"):
        counts = [run["retried"].get("40001", {}).get(level, 0) for run in (minimal, linkage)]
        add(
            f"serialization_failures:{SHORT_ISOLATION[level]}",
            f"serialization failures {SHORT_ISOLATION[level]} ≤ {SERIALIZATION_MAX_RATIO:g}×",
            counts[0],
            counts[1],
            counts[1] <= SERIALIZATION_MAX_RATIO * counts[0],
            ratio_value=ratio(counts[1], counts[0]),
        )
    errors = {name: app_errors_at(run) for name, run in ((MINIMAL_TRIGGER, minimal), (LINKAGE, linkage))}
    more = {s: n for s, n in errors[LINKAGE].items() if n > errors[MINIMAL_TRIGGER].get(s, 0)}
    add(
        "rc_app_errors",
        "READ COMMITTED: no app-visible error the minimal trigger's run has not (per SQLSTATE)",
        sum(errors[MINIMAL_TRIGGER].values()),
        sum(errors[LINKAGE].values()),
        not more,
        "; ".join(f"{s}: {n} vs {errors[MINIMAL_TRIGGER].get(s, 0)}" for s, n in more.items()) or "none more",
    )
    waits = {name: long_lock_waits(run) for name, run in ((MINIMAL_TRIGGER, minimal), (LINKAGE, linkage))}
    new = sorted(set(waits[LINKAGE]) - set(waits[MINIMAL_TRIGGER]))
    totals = [sum(waits[MINIMAL_TRIGGER].values()), sum(waits[LINKAGE].values())]
    add(
        "rc_lock_waits",
        f"READ COMMITTED: no lock wait over {LOCK_WAIT_MS:g} ms the minimal trigger's run has not (no new"
        f" lock × operation; in all ≤ {LOCK_WAITS_MAX_RATIO:g}×)",
        totals[0],
        totals[1],
        not new and totals[1] <= LOCK_WAITS_MAX_RATIO * totals[0],
        (("new: " + "; ".join(f"{k} ({waits[LINKAGE][k]})" for k in new)) if new else "no new lock × operation")
        + "".join(
            f"; the {name} run's, by what they waited behind: " + ", ".join(f"{k} ({v})" for k, v in behind.items())
            for name, behind in (
                (MINIMAL_TRIGGER, long_lock_waits(minimal, behind=True)),
                (LINKAGE, long_lock_waits(linkage, behind=True)),
            )
            if behind
        ),
        ratio(totals[1], totals[0]),
    )
    violations = linkage["invariants"]["total"]
    add(
        "invariants",
        f"0 invariant violations at quiescence over ≥ {MIN_OPERATIONS_FOR_INVARIANTS:,} operations",
        minimal["invariants"]["total"],
        violations,
        violations == 0 and linkage["operations"] >= MIN_OPERATIONS_FOR_INVARIANTS,
        f"{linkage['operations']:,} operations"
        + ("" if linkage["operations"] >= MIN_OPERATIONS_FOR_INVARIANTS else " (too few to meet the target)"),
    )
    if control is not None:
        add(
            "checker_can_fail",
            "the checker fails the control (linkage off): linkable-but-NULL deliveries > 0",
            None,
            control["invariants"]["linkable_null"],
            control["invariants"]["linkable_null"] > 0,
            "the control's count, in the linkage column",
        )
    sweeper = linkage.get("sweeper") or {}
    stayed = linkage.get("linkable_null") or {}
    if sweeper:
        add(
            "linkable_null_seconds",
            f"longest time a delivery stayed linkable but NULL ≤ {LINKABLE_NULL_MAX_SECONDS:g} s (sweeper every"
            f" {sweeper['interval_s']:g} s; bound = observed + 2 sampling periods)",
            (minimal.get("linkable_null") or {}).get("longest_bound_s"),
            stayed.get("longest_bound_s"),
            stayed.get("longest_bound_s", math.inf) <= LINKABLE_NULL_MAX_SECONDS and not stayed.get("capped_samples"),
            f"observed {stayed.get('longest_observed_s', 0):.2f} s over {stayed.get('deliveries_seen', 0):,} "
            f"deliveries; the minimal trigger has no sweeper",
        )
        add(
            "queue_drained",
            "at quiescence the sweeper empties the queue before the invariants are checked",
            None,
            sweeper.get("left_after_drain"),
            sweeper.get("left_after_drain") == 0,
            f"{sweeper.get('drain_passes', 0)} passes, {sweeper.get('drain_seconds', 0):.1f} s",
        )
    return result


# --- presentation ------------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:,.{digits}f}"
    return f"{value:,}"


COLUMNS = (*RUNS, "linkage / minimal trigger", "linkage / control")


def comparison_rows(result: dict) -> list[tuple[str, ...]]:
    """(figure, control, minimal trigger, linkage, linkage / minimal trigger, linkage / control) rows of the
    side-by-side table; a run that was not made shows –."""
    runs = result["runs"]
    linkage = runs.get(LINKAGE)
    rows: list[tuple[str, ...]] = []

    def row(label, getter, digits=1, show_ratio=True):
        cells = [_fmt(getter(runs[n]), digits) if n in runs else "–" for n in RUNS]
        ratios = []
        for reference in (MINIMAL_TRIGGER, CONTROL):
            made = show_ratio and linkage and reference in runs
            r = ratio(getter(linkage), getter(runs[reference])) if made else None
            ratios.append(_fmt(r, 2) + "×" if r is not None else "")
        rows.append((label, *cells, *ratios))

    row("operations committed", lambda r: r["committed"], show_ratio=False)
    row("wall time (s)", lambda r: r["seconds"])
    row("throughput (ops/s)", lambda r: r["throughput_ops_per_s"])
    for state, label in (("40P01", "deadlocks (40P01, retried)"), ("40001", "serialization failures (40001, retried)")):
        for level in ISOLATION_LEVELS:
            row(f"{label} {SHORT_ISOLATION[level]}", lambda r, s=state, lv=level: r["retried"].get(s, {}).get(lv, 0))
    failed_states = sorted({s for run in runs.values() for s in run["failed"]})
    for state in failed_states:
        for level in ISOLATION_LEVELS:
            row(
                f"app errors {state} {SHORT_ISOLATION[level]}",
                lambda r, s=state, lv=level: r["failed"].get(s, {}).get(lv, 0),
            )
    if not failed_states:
        row("app errors (not retried)", lambda r: 0, show_ratio=False)
    kinds = sorted({k for run in runs.values() for k in run["latency"]} - {"all_inserts", "all"})
    for kind in ["all_inserts", *kinds, "all"]:
        for p in ("p50_ms", "p99_ms"):
            row(
                f"latency {kind} {p.removesuffix('_ms')} (ms)", lambda r, k=kind, q=p: r["latency"].get(k, {}).get(q), 2
            )
    row("lock waits seen", lambda r: r["lock_waits"]["waits_seen"])
    row("lock wait total (s)", lambda r: r["lock_waits"]["total_seconds"], 2)
    row("lock wait p50 (ms)", lambda r: r["lock_waits"]["p50_ms"])
    row("lock wait p99 (ms)", lambda r: r["lock_waits"]["p99_ms"])
    row("lock wait max (ms)", lambda r: r["lock_waits"]["max_ms"])
    row(f"lock waits over {LOCK_WAIT_MS:g} ms at RC", lambda r: sum(long_lock_waits(r).values()))
    row("share of worker time waiting on a lock (%)", lambda r: 100 * r["lock_waits"]["waiting_share"], 2)
    row("invariant: linkable but NULL", lambda r: r["invariants"]["linkable_null"], show_ratio=False)
    row(
        "  not counted: audited skipped while linking was off",
        lambda r: r["invariants"].get("linkable_null_while_linking_off"),
        show_ratio=False,
    )
    row(
        "invariant: linkage link without its audit row",
        lambda r: r["invariants"]["link_without_audit"],
        show_ratio=False,
    )
    row(
        "invariant: user_id of a user that does not exist", lambda r: r["invariants"]["dangling_user"], show_ratio=False
    )
    row(
        "invariant: the linkage run's own (audit of each insert and link, users its guests had, notes, vocabulary)",
        lambda r: (r["invariants"].get("linkage_run") or {}).get("total"),
        show_ratio=False,
    )
    row(
        "linkable-but-NULL deliveries seen during the run",
        lambda r: (r.get("linkable_null") or {}).get("deliveries_seen"),
        show_ratio=False,
    )
    row(
        "longest linkable but NULL, observed (s)",
        lambda r: (r.get("linkable_null") or {}).get("longest_observed_s"),
        2,
        show_ratio=False,
    )
    row(
        "longest linkable but NULL, bound (s)",
        lambda r: (r.get("linkable_null") or {}).get("longest_bound_s"),
        2,
        show_ratio=False,
    )
    row(
        "linkable-null sampler: mean query (ms)",
        lambda r: (r.get("linkable_null") or {}).get("mean_query_ms"),
        show_ratio=False,
    )
    row("sweeper passes", lambda r: (r.get("sweeper") or {}).get("passes"), show_ratio=False)
    row("sweeper: longest pass (ms)", lambda r: (r.get("sweeper") or {}).get("longest_pass_ms"), show_ratio=False)
    row(
        "sweeper: failed passes",
        lambda r: sum((r.get("sweeper") or {}).get("failed_passes", {}).values()) if r.get("sweeper") else None,
        show_ratio=False,
    )
    row("audit rows written", lambda r: r["audit_rows_written"], show_ratio=False)
    row("linkage WARNINGs (errors it swallowed)", lambda r: sum(r["linkage_warnings"].values()), show_ratio=False)
    return rows


def _met(value) -> str:
    return "not judged" if value is None else ("yes" if value else "NO")


def print_table(console: Console, result: dict) -> None:
    table = Table(
        title=f"concurrency benchmark: {result['operations']:,} operations, "
        f"{result['connections']} connections, seed {result['seed']}"
    )
    table.add_column("figure")
    for name in RUNS:
        table.add_column(RUN_LABELS[name], justify="right")
    table.add_column("linkage / minimal trigger", justify="right")
    table.add_column("linkage / control", justify="right")
    for cells in comparison_rows(result):
        table.add_row(*cells)
    console.print(table)
    if result.get("targets"):
        targets_table = Table(title="issue 15 targets: the linkage run against the minimal-trigger run")
        for column in ("target", "minimal trigger", "linkage", "ratio", "met", "detail"):
            targets_table.add_column(column)
        for t in result["targets"]:
            targets_table.add_row(
                t["target"],
                _fmt(t["minimal_trigger"], 2),
                _fmt(t["linkage"], 2),
                _fmt(t["ratio"], 2) + "×" if t["ratio"] is not None else "",
                _met(t["met"]),
                t["detail"],
            )
        console.print(targets_table)
        missed = [t["key"] for t in result["targets"] if t["met"] is False]
        console.print(f"targets: {len(missed)} missed" + (f" ({', '.join(missed)})" if missed else ""))
    if (result.get("drift") or {}).get("doubtful"):
        console.print(
            f"[bold red]DOUBTFUL[/]: control / minimal trigger throughput {result['drift']['value']:.2f}×; "
            f"{result['drift']['rule']}"
        )


def mix_overrides(result: dict) -> str:
    """The operation weights an experiment changed (--mix), said in the workload's line; '' for the plan's own."""
    overrides = result.get("mix_overrides") or {}
    if not overrides:
        return ""
    return " Mix overrides (an experiment): " + ", ".join(f"{k} {v:g}" for k, v in sorted(overrides.items())) + "."


def markdown(result: dict) -> str:
    machine = result["machine"]
    effective = " / ".join(
        f"{name} {run['lock_waits'].get('effective_interval_ms', 0):.0f}" for name, run in result["runs"].items()
    )
    lines = [
        "## Concurrency benchmark",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {machine['cpu']} ({machine['cores']} cores), {machine['memory']}, {machine['platform']}; load "
        f"average {machine['load_before']} before the runs, {machine.get('load_after', '–')} after; PostgreSQL "
        f"{machine['server_version']} (deadlock_timeout {machine['deadlock_timeout']}); app sessions with "
        f"lock_timeout {result['settings']['lock_timeout']}.  ",
        f"Workload: {result['operations']:,} operations on {result['connections']} connections, seed "
        f"{result['seed']} (connection seeds {', '.join(map(str, result['connection_seeds']))}); world "
        f"{result['world']['events']} events, {result['world']['guests']:,} guests."
        + mix_overrides(result)
        + " The same plan runs on three "
        "identical copies, one after the other (in the order "
        f"{', '.join(result.get('variants_order', []))}): the control with the linkage's triggers disabled; the "
        "minimal trigger (bench/minimal_trigger.sql, with the linkage's triggers disabled), the limit of any "
        "trigger design; and the linkage as deployed, with the sweeper running every "
        f"{result['settings']['sweep_interval']:g} s beside it (as `linkage sweep` does) and, at quiescence, "
        "until its queue is empty.",
        "",
        "| figure | " + " | ".join(RUN_LABELS[n] for n in RUNS) + " | linkage / minimal trigger | linkage / control |",
        "|---|" + "---:|" * (len(RUNS) + 2),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in comparison_rows(result)]
    if (result.get("drift") or {}).get("doubtful"):
        lines += [
            "",
            f"**Doubtful run**: control / minimal trigger throughput {result['drift']['value']:.2f}×; "
            f"{result['drift']['rule']}.",
        ]
    if result.get("targets"):
        lines += [
            "",
            "Issue 15's targets, the linkage run against the minimal-trigger run:",
            "",
            "| target | minimal trigger | linkage | ratio | met | detail |",
            "|---|---:|---:|---:|---|---|",
        ]
        lines += [
            f"| {t['target']} | {_fmt(t['minimal_trigger'], 2)} | {_fmt(t['linkage'], 2)} | "
            f"{_fmt(t['ratio'], 2) + '×' if t['ratio'] is not None else ''} | "
            f"{'**no**' if t['met'] is False else _met(t['met'])} | {t['detail']} |"
            for t in result["targets"]
        ]
    lines += [
        "",
        "Errors: 40001 and 40P01 are retried as an app would (counted per attempt); other errors are what the "
        "app's user would see (not retried). Lock waits: `pg_locks` sampled every "
        f"{result['settings']['sample_interval'] * 1000:g} ms (effectively every {effective} ms) for the "
        "workers' backends; one wait is (pid, waitstart) and lasts from waitstart to the last sample that saw it "
        "waiting (waits shorter than an interval may go unseen, alike in every run); each is attributed to the "
        "operation its worker was running. Latency: per operation, first BEGIN to the successful COMMIT, "
        f"retries included; a kind's p99 is judged when both runs committed at least {P99_MIN_OPERATIONS}. "
        "Invariants at quiescence: no linkable-but-NULL delivery (but those audited `skipped / "
        "feature_disabled`, inserted or linked while LINK_USER_BY_PHONE was off, counted apart); every link the "
        "linkage wrote has a `linked` "
        "audit row naming that user; no user_id of a user that does not exist (the minimal trigger and the "
        "control do not backfill or audit: their violations are what the linkage exists to prevent). "
        "Linkable but NULL during the run: every delivery linkable but NULL is sampled every "
        f"{result['settings']['linkable_interval']:g} s from the server in every run; a delivery stayed so, in "
        "its longest unbroken stretch of samples, at least last − first seen in it, at most that plus two sampling "
        "periods (the bound judged).",
        "",
    ]
    return "\n".join(lines)


def write(result: dict, output_dir: Path, name: str) -> tuple[Path, Path]:
    return results_files.write(result, output_dir, name, markdown(result))
