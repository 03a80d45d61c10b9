"""What the checker prints and writes: the number of cases and of failures, then each failure with its
permutation and what the app saw in both runs, one line each, as the isolation tester's expected
output reads (`a_send <waiting on b: …>` … `a_send <... completed>`, `ERROR 40001`), grouped by what
failed; bench/results/interleavings.{json,md} with the command and the machine."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from delivery_linkage_devtools import results_files
from delivery_linkage_devtools.interleavings import operations
from delivery_linkage_devtools.interleavings.databases import CONTROL, LINKAGE
from delivery_linkage_devtools.interleavings.space import LEVEL_NAMES, LEVELS, Case


def case_record(case: Case, runs: dict, failures: list, notes: list) -> dict:
    record = {
        "case": case.number,
        "isolation": case.isolation,
        "fallback": case.fallback,
        "pair": [case.first.name, case.second.name],
        "permutation": case.permutation,
        "failures": [finding.to_dict() for finding in failures],
        "notes": [finding.to_dict() for finding in notes],
        "seconds": {
            variant: {phase: round(value, 5) for phase, value in run.seconds.items()} for variant, run in runs.items()
        },
    }
    if runs[LINKAGE].sweep:
        record["sweep"] = runs[LINKAGE].sweep
    if failures or notes:
        # what happened, when it is not simply the permutation, every step ok (None: as scheduled)
        realized = {variant: realized_line(run) for variant, run in runs.items()}
        record["runs"] = {
            variant: {"realized": None if line == case.permutation else line} for variant, line in realized.items()
        }
    return record


def realized_line(run) -> str:
    """The run in the order things happened, on one line: `a_begin b_lock a_send <waiting on b: …>
    b_commit a_send <... completed> a_commit`; an error as `<ERROR 40001>`."""

    def part(step: str, event: str, detail: str) -> str:
        shown = {
            "start": step,
            "waiting": f"<waiting on {detail}>",
            "completed": f"{step} <... completed>",
            "error": f"<ERROR {detail.split(':', 1)[0]}>",
        }
        return shown.get(event, f"{step} <{event}>")

    return " ".join(part(*entry) for entry in run.schedule.transcript)


def signature(record: dict) -> tuple:
    """What failed, without the case: the pair and its findings (their details name roles, not ids)."""
    return (tuple(record["pair"]), tuple(sorted((f["kind"], f["detail"]) for f in record["failures"])))


def summarise(records, cases, options, about, seconds, setup_seconds, workers, sweeper) -> dict:
    failing = [record for record in records if record["failures"]]
    noted = [record for record in records if record["notes"]]
    by_kind = Counter(kind for record in failing for kind in {f["kind"] for f in record["failures"]})
    notes_by_kind = Counter(kind for record in noted for kind in {f["kind"] for f in record["notes"]})
    pairs: dict[str, dict] = defaultdict(lambda: {"cases": 0, "failing": {}, "noted": {}})
    for record in records:
        entry = pairs[" × ".join(record["pair"])]
        entry["cases"] += 1
        level = LEVEL_NAMES[record["isolation"]]
        if record["failures"]:
            entry["failing"][level] = entry["failing"].get(level, 0) + 1
        if record["notes"]:
            entry["noted"][level] = entry["noted"].get(level, 0) + 1
    phases: dict = defaultdict(lambda: defaultdict(float))
    for record in records:
        for variant, by_phase in record.get("seconds", {}).items():
            for phase, value in by_phase.items():
                phases[variant][phase] += value
    tenth = max(1, len(records) // 10)

    def mean_ms(part: list[dict]) -> dict:
        return {
            variant: round(1000 * sum(sum(r["seconds"][variant].values()) for r in part) / len(part), 1)
            for variant in (CONTROL, LINKAGE)
        }

    return {
        "command": options.command,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": about,
        "workers": workers,
        "seconds": round(seconds, 1),
        "setup_seconds": round(setup_seconds, 1),
        "sweeper": sweeper,
        "levels": list(options.levels),
        "operations": {
            op.name: {"description": op.description, "steps": [s.name for s in op.steps]}
            for op in operations.OPERATIONS
        },
        "cases": len(records),
        "cases_planned": len(cases),
        "fallback_on": {
            "cases": sum(1 for r in records if r.get("fallback")),
            "failing": sum(1 for r in failing if r.get("fallback")),
            "noted": sum(1 for r in noted if r.get("fallback")),
        },
        "phase_seconds": {variant: {p: round(v, 1) for p, v in by.items()} for variant, by in phases.items()},
        "mean_case_ms_first_and_last_tenth": [mean_ms(records[:tenth]), mean_ms(records[-tenth:])] if records else [],
        "failing": len(failing),
        "failures_by_kind": dict(by_kind.most_common()),
        "noted": len(noted),
        "notes_by_kind": dict(notes_by_kind.most_common()),
        "pairs": dict(sorted(pairs.items())),
        "failure_groups": failure_groups(records),
        "noted_cases": [
            {
                "case": r["case"],
                "isolation": r["isolation"],
                "fallback": r.get("fallback", False),
                "pair": r["pair"],
                "permutation": r["permutation"],
                "notes": r["notes"],
                "linkage": r["runs"][LINKAGE]["realized"],
                "control": r["runs"][CONTROL]["realized"],
            }
            for r in noted
        ],
    }


def failure_groups(records: list[dict]) -> list[dict]:
    """The failing cases grouped by pair and what failed, largest group of each pair first."""
    groups: dict[tuple, list] = defaultdict(list)
    for record in records:
        if record["failures"]:
            groups[signature(record)].append(record)
    return [
        {
            "pair": list(key[0]),
            "findings": [{"kind": kind, "detail": detail} for kind, detail in key[1]],
            "levels": [name for level, name in LEVEL_NAMES.items() if any(r["isolation"] == level for r in members)],
            "cases": [
                {
                    "case": r["case"],
                    "isolation": r["isolation"],
                    "fallback": r.get("fallback", False),
                    "permutation": r["permutation"],
                    LINKAGE: r["runs"][LINKAGE]["realized"],
                    CONTROL: r["runs"][CONTROL]["realized"],
                }
                for r in members
            ],
        }
        for key, members in sorted(groups.items(), key=lambda item: (item[0][0], -len(item[1])))
    ]


def failure_text(records: list[dict]) -> str:
    """Every failing case of `records`, grouped, as the report prints them."""
    return "\n".join(line for group in failure_groups(records) for line in group_lines(group))


def group_lines(group: dict) -> list[str]:
    """A group of failures: what failed, then each permutation with both runs (`as scheduled`: every
    step ran in the permutation's order and returned ok)."""
    lines = [f"{' × '.join(group['pair'])}: {len(group['cases'])} failing ({', '.join(group['levels'])})"]
    for finding in group["findings"]:
        lines.append(f"  failed {finding['kind']}: {finding['detail']}")
    for case in group["cases"]:
        lines.extend(case_lines(case))
    return lines


def case_lines(case: dict, indent: str = "  ") -> list[str]:
    setting = LEVEL_NAMES[case["isolation"]] + (", users fallback on" if case.get("fallback") else "")
    head = f"{indent}#{case['case']} [{setting}] permutation {case['permutation']}"
    runs = {variant: case[variant] for variant in (LINKAGE, CONTROL)}
    if all(realized is None for realized in runs.values()):
        return [f"{head}  (linkage and control: as scheduled)"]
    return [head] + [f"{indent}    {variant}: {realized or 'as scheduled'}" for variant, realized in runs.items()]


def print_summary(console: Console, result: dict, print_failures: bool = True) -> None:
    if print_failures:
        for group in result["failure_groups"]:
            for line in group_lines(group):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"interleavings: {result['cases']:,} cases, {result['failing']:,} failing "
        f"({counts(result['failures_by_kind'])}); {result['noted']:,} with notes ({counts(result['notes_by_kind'])}); "
        f"{result['seconds']:.0f} s on {result['workers']} worker(s)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def counts(by_kind: dict) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in by_kind.items()) or "none"


def markdown(result: dict) -> str:
    about = result["machine"]
    sweeper = "delivery_linkage.sweep_guest_link_queue() after each case" if result["sweeper"] else "none deployed"
    lines = [
        "# Interleavings: every pair of app operations, every permutation, every isolation level",
        "",
        "Each case runs two app sessions (named steps: BEGIN, each statement, COMMIT/ROLLBACK) in one",
        "permutation, on a database with the linkage and on a control database with the same app schema",
        "and no linkage; then the sweeper if the deployment has one; then the invariants at quiescence.",
        "Specs: `devtools/src/delivery_linkage_devtools/interleavings/operations.py`.",
        "",
        f"- command: `{result['command']}`",
        f"- generated: {result['generated_at']}; {result['seconds']:.0f} s in all "
        f"({result['setup_seconds']:.0f} s building the databases), {result['workers']} workers",
        f"- machine: {about.get('cpu')}, {about.get('cores')} cores, {about.get('memory')}; "
        f"PostgreSQL {about.get('server_version')}; load {about.get('load_before')} → {about.get('load_after')}",
        f"- sweeper: {sweeper}",
        "",
        f"**{result['cases']:,} cases, {result['failing']:,} failing.** "
        f"Failures by kind (cases): {counts(result['failures_by_kind'])}.",
        f"Not failures, noted: {result['noted']:,} cases ({counts(result['notes_by_kind'])}).",
        *(
            [
                f"Of them with the users fallback on: {on['cases']:,} cases, {on['failing']:,} failing, "
                f"{on['noted']:,} noted."
            ]
            if (on := result.get("fallback_on"))
            else []
        ),
        "",
        "## Cases by pair",
        "",
        "| pair | cases | failing rc / rr / ser | noted rr / ser |",
        "|---|---:|---|---|",
    ]
    for pair, entry in result["pairs"].items():
        failing = " / ".join(str(entry["failing"].get(LEVEL_NAMES[level], 0)) for level in LEVELS)
        noted = " / ".join(str(entry["noted"].get(LEVEL_NAMES[level], 0)) for level in LEVELS[1:])
        lines.append(f"| {pair} | {entry['cases']} | {failing} | {noted} |")
    lines += [
        "",
        "## Failures",
        "",
        "Grouped by pair and what failed; each failing case (`#N`: rerun it step by step with `make interleavings",
        "INTERLEAVINGS_ARGS='--case N'`) and its permutation, with what the app saw in both runs, in",
        "the order it happened (`<waiting on …>`: the step blocked, on whom and which lock; `<... completed>`:",
        "it returned; `ERROR`: its SQLSTATE).",
        "",
    ]
    for group in result["failure_groups"]:
        lines.append("```")
        lines.extend(group_lines(group))
        lines.append("```")
    if result["noted_cases"]:
        lines += [
            "",
            "## Noted (not failures): what the linkage added above READ COMMITTED",
            "",
            "Serialization failures (40001) the control did not have, and waits it did not have, by pair and",
            "step; the permutations are in the JSON (`noted_cases`). These counts can vary a little from run to",
            "run (a 40001 may depend on transactions of the other worker's database, or on where fresh ids fall",
            "under SERIALIZABLE's page-level predicate locks); READ COMMITTED's results do not.",
            "",
            "| pair | note | rr | ser |",
            "|---|---|---:|---:|",
        ]
        tally: dict[tuple, Counter] = defaultdict(Counter)
        for case in result["noted_cases"]:
            for note in case["notes"]:
                tally[(" × ".join(case["pair"]), f"{note['kind']}: {note['detail']}")][case["isolation"]] += 1
        for (pair, note), by_level in sorted(tally.items()):
            rr, ser = by_level["repeatable read"], by_level["serializable"]
            lines.append(f"| {pair} | {note.replace('|', '/')} | {rr} | {ser} |")
    lines.append("")
    return "\n".join(lines)


def write(result: dict, directory: Path, name: str) -> tuple[Path, Path]:
    return results_files.write(result, directory, name, markdown(result), indent=1)  # the file is large
