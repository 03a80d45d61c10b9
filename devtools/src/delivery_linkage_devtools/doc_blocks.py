"""The measured figures of README.md and bench/*.md, rendered from the results each command writes.

Every figure a page shows of `make bench`, `make concurrency`, `make interleavings` and `make bench-scale`
stands in a generated block (markers.py: the one writer) that the command writes at the end of its run
from the document it also writes to bench/results/*.json; each target is shown with its value and
whether it was met, as the results say. The blocks are rendered from the JSON alone, so they can be
rendered again without running anything:

    python -m delivery_linkage_devtools.doc_blocks            # every block, from the committed results
    python -m delivery_linkage_devtools.doc_blocks --check    # exit 1 naming each block that differs
    python -m delivery_linkage_devtools.doc_blocks make\\ bench # the blocks of one command

tests/test_docs_match_the_project.py holds every block to its rendering.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from delivery_linkage_devtools import CHECKOUT_DIR, markers

README = CHECKOUT_DIR / "README.md"
BENCH_DIR = CHECKOUT_DIR / "bench"
RESULTS_DIR = BENCH_DIR / "results"

VARIANT_LABELS = {
    "floor": "floor",
    "project": "project",
    "baseline": "baseline",
    "ideal_app": "ideal app",
    "minimal_trigger": "minimal trigger",
    "set_based": "set-based UPDATE",
    "runbook": "runbook query",
    "control": "control",
    "linkage": "linkage",
}
BENCH_COLUMNS = ("ideal_app", "minimal_trigger", "project", "baseline")
# an earlier results file did not record the longest-batch limit; it was this
DEFAULT_MAX_BATCH_SECONDS = 1.0


def label(name: str) -> str:
    return VARIANT_LABELS.get(name, name)


def verdict(met: bool | None) -> str:
    return "not judged" if met is None else ("met" if met else "**missed**")


def ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return "∞×" if math.isinf(value) else f"{value:.2f}×"


def number(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def day(document: dict) -> str:
    return document["generated_at"][:10] if document.get("generated_at") else "undated"


def short(text: str) -> str:
    """A workload's label without its parenthesis (`announcement send (~479 guests)` → `announcement send`)."""
    return text.split(" (")[0]


# --- make bench: bench/results/latest.json -------------------------------------------------------------


def bench_machine(document: dict) -> str:
    m = document["machine"]
    load = ""
    if m.get("load_average_start") and m.get("load_average_end"):
        load = f"; load average {m['load_average_start'][0]:.1f} → {m['load_average_end'][0]:.1f}"
    return f"{m['nproc']} vCPU {m['cpu']}, {m['memory']}, {m['postgres'].split(' on ')[0]}{load}"


def bench_targets(document: dict) -> list[tuple[str, str, bool | None]]:
    """(target, the project's figure, met) for every target of the run, in the order of the workloads."""
    rows = []
    for workload in document["workloads"]:
        target = workload.get("target")
        if target:
            rows.append(
                (f"{short(workload['label'])} {target['text']}", ratio(workload["target_ratio"]), workload["met"])
            )
        if workload["key"] == "historical_backfill" and "longest_batch_seconds" in workload["extra"]:
            limit = document.get("max_batch_seconds", DEFAULT_MAX_BATCH_SECONDS)
            rows.append(
                (
                    f"historical backfill: longest batch ≤ {limit:g} s",
                    f"{workload['extra']['longest_batch_seconds']:.2f} s",
                    document.get("longest_backfill_batch_ok"),
                )
            )
    audit = document.get("audit_storage") or {}
    project = (audit.get("variants") or {}).get("project")
    if project and audit.get("target_table_bytes_per_attempt") is not None:
        rows.append(
            (
                f"audit ≤ {audit['target_table_bytes_per_attempt']:g} B of table per attempt",
                f"{project['table_bytes_per_attempt']:.1f} B",
                document["targets_met"].get("audit_table_bytes_per_attempt"),
            )
        )
    return rows


def bench_checks(document: dict) -> str:
    checks = document.get("checks") or []
    failed = [c["name"] for c in checks if not c["passed"]]
    text = f"{len(checks) - len(failed)} of {len(checks)} agreement checks passed"
    return text + (f" (failed: {', '.join(failed)})" if failed else "")


def bench_readme(document: dict) -> str:
    """The README's cell for `make bench`: each target, the project's figure, met or missed."""
    targets = "; ".join(f"{what}: {figure}, {verdict(met)}" for what, figure, met in bench_targets(document))
    flagged = " **FLAGGED: a reference drifted**;" if (document.get("drift") or {}).get("flagged") else ""
    return (
        f"{day(document)}:{flagged} {targets}; {bench_checks(document)} —"
        " [bench/README.md](bench/README.md#latest-figures)"
    )


def bench_variant_cell(workload: dict, variant: str) -> str:
    ratios = workload.get("ratios") or {}
    if variant not in ratios or ratios[variant] is None:
        return "–"
    parts = [ratio(ratios[variant])]
    for reference, by_variant in (workload.get("ratios_vs") or {}).items():
        if by_variant.get(variant) is not None:
            parts.append(f"{ratio(by_variant[variant])} {label(reference)}")
    return "; ".join(parts)


def bench_target_cell(workload: dict) -> str:
    target = workload.get("target")
    if not target:
        return "–"
    return f"{target['text']}: {ratio(workload['target_ratio'])}, {verdict(workload['met'])}"


def bench_page(document: dict) -> str:
    """bench/README.md's latest figures: every workload against its references, each target met or not."""
    extras = list(document.get("experiments") or [])
    columns = [*BENCH_COLUMNS, *extras]
    drift = document.get("drift") or {}
    lines = [
        f"`{document.get('command') or 'make bench'}`, {document['generated_at']}"
        f" ({document['duration_seconds'] / 60:.0f} min): {bench_machine(document)}; server settings "
        + ", ".join(f"{k} {v}" for k, v in sorted(document["machine"]["settings"].items()))
        + ". Each cell: the variant's ratio to the workload's reference, then to the ideal app and the minimal"
        " trigger where they took part; a ratio is the median of paired ratios (operation *i* of a variant over"
        " operation *i* of the reference, back to back); every figure and its spread is in"
        " [`results/latest.json`](results/latest.json),"
        " the chart in [`results/latest.png`](results/latest.png).",
        "",
    ]
    if drift.get("flagged"):
        lines += ["**FLAGGED: a reference drifted** — " + "; ".join(drift.get("reasons") or []), ""]
    elif drift:
        lines += [f"References held still: {len(drift.get('checks') or [])} drift rules evaluated, none failed.", ""]
    lines += [
        "![benchmark](results/latest.png)",
        "",
        "| workload | reference | " + " | ".join(label(c) for c in columns) + " | target |",
        "|---|---|" + "---|" * (len(columns) + 1),
    ]
    for workload in document["workloads"]:
        cells = [bench_variant_cell(workload, c) for c in columns]
        lines.append(
            f"| {workload['label']} | {workload['reference_label']} | "
            + " | ".join(cells)
            + f" | {bench_target_cell(workload)} |"
        )
    lines += ["", "| target | project | met |", "|---|---|---|"]
    lines += [f"| {what} | {figure} | {verdict(met)} |" for what, figure, met in bench_targets(document)]
    audit = document.get("audit_storage") or {}
    growths = audit.get("variants") or {}
    if growths:
        sample = next(iter(growths.values()))
        lines += [
            "",
            f"Audit storage over {sample['sends']} sends to linked guests ({sample['attempts']:,} attempts), bytes"
            " per attempt: "
            + "; ".join(
                f"{label(name)} {g['table_bytes_per_attempt']:.1f} B of table, {g['index_bytes_per_attempt']:.1f} B"
                f" of its indexes, {g['total_bytes_per_attempt']:.1f} B every fork"
                for name, g in growths.items()
                if g.get("relations")
            )
            + ".",
        ]
    lines += ["", bench_checks(document) + "."]
    return "\n".join(lines)


# --- make concurrency: bench/results/concurrency.json -------------------------------------------------


def concurrency_reference(document: dict) -> str:
    """The run the targets are judged against: the minimal trigger (earlier results: the control)."""
    targets = document.get("targets") or []
    return "minimal_trigger" if any("minimal_trigger" in t for t in targets) else "control"


def concurrency_header(document: dict) -> str:
    m = document["machine"]
    return (
        f"{document['operations']:,} operations, {document['connections']} connections, seed {document['seed']};"
        f" {day(document)}; {m['cpu']}, {m['cores']} cores, PostgreSQL {m['server_version']}; load"
        f" {m.get('load_before', '–').split(' ')[0]} → {(m.get('load_after') or '–').split(' ')[0]}"
    )


def concurrency_readme(document: dict) -> str:
    """The README's cell for `make concurrency`: how many targets were met; each missed one, its figure."""
    targets = document.get("targets") or []
    judged = [t for t in targets if t.get("met") is not None]
    missed = [t for t in judged if not t["met"]]
    reference = label(concurrency_reference(document))
    doubtful = " **doubtful: the references moved**;" if (document.get("drift") or {}).get("doubtful") else ""
    text = (
        f"{concurrency_header(document)}:{doubtful} {len(judged) - len(missed)} of {len(judged)} targets met"
        f" (against the {reference})"
    )
    if missed:
        text += "; missed: " + "; ".join(
            f"{t['target']} ({number(t['linkage'])} vs {number(t.get(concurrency_reference(document)))}"
            + (f", {ratio(t['ratio'])}" if t.get("ratio") is not None else "")
            + ")"
            for t in missed
        )
    return text + " — [bench/CONCURRENCY.md](bench/CONCURRENCY.md#latest-figures)"


def concurrency_page(document: dict) -> str:
    """bench/CONCURRENCY.md's latest figures: every target, both runs' figures, met or not."""
    reference = concurrency_reference(document)
    lines = [
        f"`{document['command']}`: {concurrency_header(document)}. Every figure of the three runs, side by side:"
        " [`results/concurrency.md`](results/concurrency.md) (JSON beside it).",
        "",
    ]
    drift = document.get("drift") or {}
    if drift.get("doubtful"):
        lines += [
            f"**Doubtful run**: control / minimal trigger throughput {ratio(drift['value'])}; {drift['rule']}.",
            "",
        ]
    lines += [
        f"| target | {label(reference)} | linkage | ratio | met | detail |",
        "|---|---:|---:|---:|---|---|",
    ]
    for t in document.get("targets") or []:
        lines.append(
            f"| {t['target']} | {number(t.get(reference))} | {number(t.get('linkage'))} |"
            f" {ratio(t.get('ratio')) if t.get('ratio') is not None else ''} | {verdict(t.get('met'))} |"
            f" {t.get('detail', '')} |"
        )
    return "\n".join(lines)


# --- make interleavings: bench/results/interleavings.json ----------------------------------------------


def counts(by_kind: dict) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in by_kind.items()) or "none"


def interleavings_readme(document: dict) -> str:
    """The README's cell for `make interleavings`: cases, failing by kind, noted above READ COMMITTED."""
    return (
        f"{day(document)}: {document['cases']:,} cases (every permutation of every pair of"
        f" {len(document['operations'])} operations, at {', '.join(document['levels'])}"
        f"{', with the users fallback off and on' if 'fallback_on' in document else ''}, with and without the"
        f" linkage), {document['failing']:,} failing ({counts(document.get('failures_by_kind') or {})});"
        f" noted above READ COMMITTED: {document.get('noted', 0):,} ({counts(document.get('notes_by_kind') or {})})"
        " — [bench/INTERLEAVINGS.md](bench/INTERLEAVINGS.md#latest-figures)"
    )


def interleavings_page(document: dict) -> str:
    """bench/INTERLEAVINGS.md's latest figures: the counts and each group of failing cases."""
    m = document["machine"]
    lines = [
        f"`{document['command']}`, {document['generated_at']}: {document['seconds']:,.0f} s on"
        f" {document['workers']} workers; {m.get('cpu')}, {m.get('cores')} cores, PostgreSQL"
        f" {m.get('server_version')}; load {m.get('load_before')} → {m.get('load_after')}. Every case and"
        " every pair: [`results/interleavings.md`](results/interleavings.md) (JSON beside it).",
        "",
        f"**{document['cases']:,} cases, {document['failing']:,} failing** "
        f"({counts(document.get('failures_by_kind') or {})}). Noted above READ COMMITTED, not failures:"
        f" {document.get('noted', 0):,} cases ({counts(document.get('notes_by_kind') or {})}).",
    ]
    if "fallback_on" in document:
        on = document["fallback_on"]
        lines[-1] += (
            f" With the users fallback on: {on['cases']:,} of the cases,"
            f" {on['failing']:,} failing, {on['noted']:,} noted."
        )
    groups = document.get("failure_groups") or []
    if groups:
        lines += ["", "The failing cases, by pair and what failed (`#N`: rerun with `--case N`):", ""]
        for group in groups:
            cases = group["cases"]
            findings = "; ".join(f"`{f['kind']}` {f['detail']}" for f in group["findings"])
            example = ", ".join(f"#{c['case']}" for c in cases[:2])
            lines.append(
                f"- {' × '.join(group['pair'])}: {len(cases)} ({', '.join(group['levels'])}): {findings};"
                f" e.g. {example}"
            )
    return "\n".join(lines)


# --- make bench-scale: bench/results/scale.json (its renderer is the command's own) ----------------------


def scale_readme(document: dict) -> str:
    from delivery_linkage_devtools.bench import scale  # the bench package imports this module

    return scale.readme_body(document)


# --- where each block stands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    name: str  # the markers' name
    command: str  # the command that writes it, as the markers say
    page: Path
    results: Path  # the JSON it is rendered from
    render: Callable[[dict], str]

    def rendered(self, document: dict | None = None) -> str:
        """The block, markers included, from `document` (default: the committed results file)."""
        document = document if document is not None else json.loads(self.results.read_text())
        return markers.block(self.name, self.command, self.render(document))

    def current(self) -> str:
        """The block as the page has it now."""
        return markers.read(self.page.read_text(), self.name)


BLOCKS = (
    Block("bench", "make bench", README, RESULTS_DIR / "latest.json", bench_readme),
    Block("bench-figures", "make bench", BENCH_DIR / "README.md", RESULTS_DIR / "latest.json", bench_page),
    Block("concurrency", "make concurrency", README, RESULTS_DIR / "concurrency.json", concurrency_readme),
    Block(
        "concurrency-figures",
        "make concurrency",
        BENCH_DIR / "CONCURRENCY.md",
        RESULTS_DIR / "concurrency.json",
        concurrency_page,
    ),
    Block("interleavings", "make interleavings", README, RESULTS_DIR / "interleavings.json", interleavings_readme),
    Block(
        "interleavings-figures",
        "make interleavings",
        BENCH_DIR / "INTERLEAVINGS.md",
        RESULTS_DIR / "interleavings.json",
        interleavings_page,
    ),
    Block("bench-scale", "make bench-scale", README, RESULTS_DIR / "scale.json", scale_readme),
)
COMMANDS = tuple(dict.fromkeys(block.command for block in BLOCKS))


def blocks_of(command: str) -> list[Block]:
    return [block for block in BLOCKS if block.command == command]


def publish(command: str, document: dict | None = None) -> list[Path]:
    """Writes every block of `command` from `document` (default: its committed results file); the pages
    that changed. What each command calls at the end of a published run."""
    changed = []
    for block in blocks_of(command):
        if markers.write(block.page, block.rendered(document)):
            changed.append(block.page)
    return changed


def stale() -> list[Block]:
    """The blocks whose text differs from their rendering of the committed results."""
    return [block for block in BLOCKS if block.current() != block.rendered()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m delivery_linkage_devtools.doc_blocks",
        description="Render the measured figures of README.md and bench/*.md again from bench/results/*.json.",
    )
    parser.add_argument(
        "commands", nargs="*", metavar="COMMAND", help=f"only these commands' blocks: {', '.join(COMMANDS)}"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block differs")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for command in args.commands:
        if command not in COMMANDS:
            parser.error(f"no command {command!r}; the commands: {', '.join(COMMANDS)}")
    if args.check:
        differing = stale()
        for block in differing:
            print(f"{block.page.relative_to(CHECKOUT_DIR)}: block {block.name} differs from {block.results.name}")
        return 1 if differing else 0
    for command in args.commands or COMMANDS:
        for path in publish(command):
            print(f"updated {path.relative_to(CHECKOUT_DIR)} ({command})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
