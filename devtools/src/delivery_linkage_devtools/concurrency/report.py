"""Figures of a run, the side-by-side comparison, and its JSON / table / markdown forms."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from delivery_linkage_devtools.concurrency.plan import INSERT_KINDS, ISOLATION_LEVELS
from delivery_linkage_devtools.concurrency.runner import RETRIED, RunOutcome

CONTROL, LINKAGE = "control", "linkage"
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
    for locktype, relation, seconds in waits:
        by_lock[f"{locktype}{':' + relation if relation else ''}"].append(seconds)
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
            "total_seconds": sum(w[2] for w in waits),
            "waiting_share": outcome.waiting_backend_samples / max(outcome.lock_samples * outcome.backends, 1),
            **{k: v for k, v in distribution([w[2] for w in waits]).items() if k != "count"},
            "by_lock": {name: {"waits": len(v), "total_seconds": sum(v)} for name, v in sorted(by_lock.items())},
        },
        "linkage_warnings": dict(warnings),
        "app_written_links": sum(len(w.app_links) for w in outcome.workers),
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


def targets(control: dict, linkage: dict) -> list[dict]:
    """The issue's targets, judged on the two runs."""
    rc = "read committed"
    app_errors_rc = {
        name: sum(run["failed"].get(s, {}).get(rc, 0) for s in run["failed"])
        + sum(run["retried"].get(s, {}).get(rc, 0) for s in RETRIED)
        for name, run in ((CONTROL, control), (LINKAGE, linkage))
    }
    serialization = {
        name: sum(run["retried"].get("40001", {}).get(level, 0) for level in ("repeatable read", "serializable"))
        for name, run in ((CONTROL, control), (LINKAGE, linkage))
    }
    p99 = {name: run["latency"]["all_inserts"]["p99_ms"] for name, run in ((CONTROL, control), (LINKAGE, linkage))}
    violations = linkage["invariants"]["total"]
    serialization_ratio = ratio(serialization[LINKAGE], serialization[CONTROL])
    p99_ratio = ratio(p99[LINKAGE], p99[CONTROL])
    return [
        {
            "target": "READ COMMITTED: app-visible errors (deadlocks, lock timeouts, any) = the control's",
            "control": app_errors_rc[CONTROL],
            "linkage": app_errors_rc[LINKAGE],
            "met": app_errors_rc[LINKAGE] <= app_errors_rc[CONTROL],
        },
        {
            "target": "RR/SERIALIZABLE: serialization failures ≤ 1.2× the control's",
            "control": serialization[CONTROL],
            "linkage": serialization[LINKAGE],
            "met": serialization[LINKAGE] <= 1.2 * serialization[CONTROL],
            "ratio": serialization_ratio,
        },
        {
            "target": "p99 insert latency ≤ 1.2× the control's",
            "control": p99[CONTROL],
            "linkage": p99[LINKAGE],
            "met": p99_ratio is not None and p99_ratio <= 1.2,
            "ratio": p99_ratio,
        },
        {
            "target": "0 invariant violations (linkage run)",
            "control": control["invariants"]["total"],
            "linkage": violations,
            "met": violations == 0,
        },
    ]


# --- presentation ------------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def comparison_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(figure, control, linkage, linkage / control) rows of the side-by-side table."""
    runs = result["runs"]
    control, linkage = runs.get(CONTROL), runs.get(LINKAGE)
    names = [n for n in (CONTROL, LINKAGE) if n in runs]
    rows: list[tuple[str, str, str, str]] = []

    def row(label, getter, digits=1, show_ratio=True):
        values = [getter(runs[n]) for n in names]
        cells = {n: _fmt(v, digits) for n, v in zip(names, values, strict=True)}
        r = ratio(getter(linkage), getter(control)) if show_ratio and control and linkage else None
        rows.append(
            (label, cells.get(CONTROL, "–"), cells.get(LINKAGE, "–"), _fmt(r, 2) + "×" if r is not None else "")
        )

    row("operations committed", lambda r: r["committed"], show_ratio=False)
    row("wall time (s)", lambda r: r["seconds"])
    row("throughput (ops/s)", lambda r: r["throughput_ops_per_s"])
    for state, label in (("40P01", "deadlocks (40P01, retried)"), ("40001", "serialization failures (40001, retried)")):
        for level in ISOLATION_LEVELS:
            row(f"{label} {SHORT_ISOLATION[level]}", lambda r, s=state, lv=level: r["retried"].get(s, {}).get(lv, 0))
    failed_states = sorted({s for n in names for s in runs[n]["failed"]})
    for state in failed_states:
        for level in ISOLATION_LEVELS:
            row(
                f"app errors {state} {SHORT_ISOLATION[level]}",
                lambda r, s=state, lv=level: r["failed"].get(s, {}).get(lv, 0),
            )
    if not failed_states:
        row("app errors (not retried)", lambda r: 0, show_ratio=False)
    for kind in (
        "all_inserts",
        "announcement",
        "send_one",
        "send_several",
        "upsert",
        "status_update",
        "link",
        "name_edit",
        "all",
    ):
        if control and kind not in control["latency"] and linkage and kind not in linkage["latency"]:
            continue
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            row(
                f"latency {kind} {p.removesuffix('_ms')} (ms)", lambda r, k=kind, q=p: r["latency"].get(k, {}).get(q), 2
            )
    row("lock waits seen", lambda r: r["lock_waits"]["waits_seen"])
    row("lock wait total (s)", lambda r: r["lock_waits"]["total_seconds"], 2)
    row("lock wait p50 (ms)", lambda r: r["lock_waits"]["p50_ms"])
    row("lock wait p95 (ms)", lambda r: r["lock_waits"]["p95_ms"])
    row("lock wait p99 (ms)", lambda r: r["lock_waits"]["p99_ms"])
    row("lock wait max (ms)", lambda r: r["lock_waits"]["max_ms"])
    row("share of worker time waiting on a lock (%)", lambda r: 100 * r["lock_waits"]["waiting_share"], 2)
    row("invariant: linkable but NULL", lambda r: r["invariants"]["linkable_null"], show_ratio=False)
    row(
        "invariant: linkage link without its audit row",
        lambda r: r["invariants"]["link_without_audit"],
        show_ratio=False,
    )
    row(
        "  of which audited `linked` under another table_name",
        lambda r: r["invariants"].get("link_without_audit_audited_elsewhere", 0),
        show_ratio=False,
    )
    row(
        "invariant: user_id of a user that does not exist", lambda r: r["invariants"]["dangling_user"], show_ratio=False
    )
    row("audit rows written", lambda r: r["audit_rows_written"], show_ratio=False)
    row("linkage WARNINGs (errors it swallowed)", lambda r: sum(r["linkage_warnings"].values()), show_ratio=False)
    return rows


def print_table(console: Console, result: dict) -> None:
    table = Table(
        title=f"concurrency benchmark: {result['operations']:,} operations, "
        f"{result['connections']} connections, seed {result['seed']}"
    )
    table.add_column("figure")
    table.add_column("control (no linkage triggers)", justify="right")
    table.add_column("linkage", justify="right")
    table.add_column("linkage / control", justify="right")
    for cells in comparison_rows(result):
        table.add_row(*cells)
    console.print(table)
    if result.get("targets"):
        targets_table = Table(title="issue 9 targets")
        for column in ("target", "control", "linkage", "met"):
            targets_table.add_column(column)
        for t in result["targets"]:
            targets_table.add_row(t["target"], _fmt(t["control"]), _fmt(t["linkage"]), "yes" if t["met"] else "NO")
        console.print(targets_table)


def markdown(result: dict) -> str:
    machine = result["machine"]
    effective = " / ".join(
        f"{run['lock_waits'].get('effective_interval_ms', 0):.0f}" for run in result["runs"].values()
    )
    lines = [
        "## Concurrency benchmark",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {machine['cpu']} ({machine['cores']} cores, load average {machine['load_before']} before the run), "
        f"{machine['memory']}, {machine['platform']}; PostgreSQL {machine['server_version']} "
        f"(deadlock_timeout {machine['deadlock_timeout']}); app sessions with lock_timeout "
        f"{result['settings']['lock_timeout']}.  ",
        f"Workload: {result['operations']:,} operations on {result['connections']} connections, seed "
        f"{result['seed']} (connection seeds {', '.join(map(str, result['connection_seeds']))}); world "
        f"{result['world']['events']} events, {result['world']['guests']:,} guests. The control is the same "
        "workload on an identical copy with the linkage's triggers disabled.",
        "",
        "| figure | control | linkage | linkage / control |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in comparison_rows(result)]
    if result.get("targets"):
        lines += ["", "| target | control | linkage | met |", "|---|---:|---:|---|"]
        lines += [
            f"| {t['target']} | {_fmt(t['control'])} | {_fmt(t['linkage'])} | {'yes' if t['met'] else '**no**'} |"
            for t in result["targets"]
        ]
    lines += [
        "",
        "Errors: 40001 and 40P01 are retried as an app would (counted per attempt); other errors are what the "
        "app's user would see (not retried). Lock waits: `pg_locks` sampled every "
        f"{result['settings']['sample_interval'] * 1000:g} ms (effectively every {effective} ms) for the "
        "workers' backends; one wait is "
        "(pid, waitstart) and lasts from waitstart to the last sample that saw it waiting (waits shorter than "
        "an interval may go unseen, alike in both runs). Latency: per operation, first BEGIN to the successful "
        "COMMIT, retries included. Invariants at quiescence: no linkable-but-NULL delivery; every link the "
        "linkage wrote has a `linked` audit row naming that user; no user_id of a user that does not exist.",
        "",
    ]
    return "\n".join(lines)


def write(result: dict, output_dir: Path, name: str) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / f"{name}.json", output_dir / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path
