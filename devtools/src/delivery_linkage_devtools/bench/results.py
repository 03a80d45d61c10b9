"""The benchmark's figures: summaries (median and spread), the ratio table, the JSON and the chart.

Pure functions over the measurements `bench.run` collects; nothing here touches a database.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.table import Table


@dataclass
class Summary:
    """Seconds: median, interquartile range, extremes, number of samples."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        if not values:
            raise ValueError("no samples")
        ordered = sorted(values)
        if len(ordered) >= 4:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1, q3 = ordered[0], ordered[-1]
        return cls(len(ordered), statistics.median(ordered), q1, q3, ordered[0], ordered[-1])


# the variants every run has; references are measured beside the project, never deployed by it
FLOOR, PROJECT, BASELINE = "floor", "project", "baseline"
IDEAL_APP, MINIMAL_TRIGGER = "ideal_app", "minimal_trigger"
REFERENCES = (IDEAL_APP, MINIMAL_TRIGGER)  # what linking at insert costs at the least, without an audit
LABELS = {
    FLOOR: "floor",
    PROJECT: "project",
    BASELINE: "baseline",
    IDEAL_APP: "ideal app",
    MINIMAL_TRIGGER: "minimal trigger",
    "set_based": "set-based UPDATE",
    "runbook": "runbook query",
}


def label(variant: str) -> str:
    return LABELS.get(variant, variant)


@dataclass
class Target:
    """What the issue asks of the project's ratio to a reference: ratio <= max_ratio.

    reference: the variant the project is compared with (None: the workload's own reference)."""

    max_ratio: float
    text: str
    reference: str | None = None


@dataclass
class Workload:
    """One workload: samples (seconds) per variant; ratios are medians over the reference's median."""

    key: str
    label: str
    reference: str
    reference_label: str
    unit: str = "operation"
    target: Target | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # server CPU seconds per operation, when known

    def summaries(self) -> dict[str, Summary]:
        return {variant: Summary.of(values) for variant, values in self.samples.items() if values}

    def ratio(self, variant: str, cpu: bool = False, reference: str | None = None) -> float | None:
        """Median of the paired ratios (operation i of the variant over operation i of the reference,
        run back to back) when the samples pair up; else the ratio of the medians.

        reference: another variant of the same run to compare with (default: the workload's reference)."""
        samples = self.cpu if cpu else self.samples
        values, reference = samples.get(variant) or [], samples.get(reference or self.reference) or []
        if not values or not reference:
            return None
        if len(values) == len(reference) and len(values) >= 3 and all(r > 0 for r in reference):
            return statistics.median(v / r for v, r in zip(values, reference, strict=True))
        median = statistics.median(reference)
        return statistics.median(values) / median if median > 0 else None

    def ratio_of_medians(self, variant: str) -> float | None:
        values, reference = self.samples.get(variant) or [], self.samples.get(self.reference) or []
        if not values or not reference or statistics.median(reference) <= 0:
            return None
        return statistics.median(values) / statistics.median(reference)

    def target_reference(self) -> str:
        return (self.target.reference if self.target else None) or self.reference

    def target_ratio(self, variant: str = PROJECT) -> float | None:
        return None if self.target is None else self.ratio(variant, reference=self.target_reference())

    def met(self, variant: str = PROJECT) -> bool | None:
        ratio = self.target_ratio(variant)
        return None if ratio is None else ratio <= self.target.max_ratio

    def side_references(self, variant: str) -> list[str]:
        """The references a variant is also compared with, beside the workload's own: the ideal app and
        the minimal trigger for every linking design, the ideal app for the minimal trigger."""
        if variant in (self.reference, IDEAL_APP):
            return []
        wanted = [IDEAL_APP] if variant == MINIMAL_TRIGGER else list(REFERENCES)
        return [r for r in wanted if r != self.reference and self.samples.get(r)]

    def as_dict(self) -> dict:
        summaries = self.summaries()
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "reference": self.reference,
            "reference_label": self.reference_label,
            "summaries": {variant: asdict(summary) for variant, summary in summaries.items()},
            "ratios": {variant: self.ratio(variant) for variant in summaries if variant != self.reference},
            # ratios to the references measured beside the project: {reference: {variant: ratio}}
            "ratios_vs": {
                reference: {
                    variant: self.ratio(variant, reference=reference)
                    for variant in summaries
                    if reference in self.side_references(variant)
                }
                for reference in REFERENCES
                if reference in summaries and reference != self.reference
            },
            "cpu_ratios_vs": {
                reference: {
                    variant: self.ratio(variant, cpu=True, reference=reference)
                    for variant in self.cpu
                    if self.cpu[variant] and reference in self.side_references(variant)
                }
                for reference in REFERENCES
                if self.cpu.get(reference) and reference != self.reference
            },
            "ratios_of_medians": {
                variant: self.ratio_of_medians(variant) for variant in summaries if variant != self.reference
            },
            "cpu_summaries": {variant: asdict(Summary.of(values)) for variant, values in self.cpu.items() if values},
            "cpu_ratios": {variant: self.ratio(variant, cpu=True) for variant in self.cpu if variant != self.reference},
            "target": None if self.target is None else asdict(self.target) | {"reference": self.target_reference()},
            "target_ratio": self.target_ratio(),
            "target_cpu_ratio": None
            if self.target is None
            else self.ratio(PROJECT, cpu=True, reference=self.target_reference()),
            "met": self.met(),
            "extra": self.extra,
        }


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


# --- drift: when a reference moved, the run is flagged instead of published ------------------------

# the minimal trigger / the ideal app on announcement sends: both write the same users, so both pay the same
# foreign-key checks, which the floor (no user written) does not; measured 1.12× (2026-12-01) and 1.07×
# (2026-12-07) while the same runs read the minimal trigger 1.70× and 1.53× the floor (the ideal app 1.54×
# and 1.41×): against the floor the reference moves with the share of linked rows, against the ideal app it
# holds still
MINIMAL_TRIGGER_SEND_RATIOS = (0.9, 1.3)
NULL_REFERENCE_WORKLOADS = ("status_updates", "guest_name_edits")  # the ≤ 1.03× targets
NULL_REFERENCE_TOLERANCE = 0.03
FLOOR_ROUND_SPREAD = 1.25  # the floor's slowest round median / its fastest
DRIFT_RULES = {
    "minimal_trigger": (
        f"announcement sends: the minimal trigger reads {MINIMAL_TRIGGER_SEND_RATIOS[0]:g}–"
        f"{MINIMAL_TRIGGER_SEND_RATIOS[1]:g}× the ideal app (both write the same users and pay the same"
        " foreign-key checks; measured 1.07–1.12×; outside, one of the two moved and the ≤ 1.15× target"
        " against it means nothing)"
    ),
    "null_references": (
        "status updates and guest name edits: the ideal app and the minimal trigger run the floor's statements on"
        " the floor's schema (no trigger of theirs fires), so each must read within"
        f" {NULL_REFERENCE_TOLERANCE:.0%} of the floor, the margin of the ≤ 1.03× targets (an A/A test of the"
        " pairing)"
    ),
    "floor_spread": (
        "every workload measured in rounds: the floor's median of its slowest round ≤"
        f" {FLOOR_ROUND_SPREAD:g}× that of its fastest (each round runs the same operations: the machine's load"
        " changed during the workload)"
    ),
}


@dataclass
class DriftCheck:
    """One evaluation of a drift rule: passed, or the reason the run is flagged."""

    rule: str
    workload: str
    subject: str
    value: float | None
    limit: str
    passed: bool

    def text(self) -> str:
        value = "–" if self.value is None else f"{self.value:.3f}"
        return f"{self.rule} / {self.workload}: {self.subject} = {value} (allowed {self.limit})"


def round_medians(values: list[float], rounds: int) -> list[float]:
    """Medians of `rounds` equal consecutive chunks of the samples (each round measures the same operations)."""
    size = len(values) // rounds if rounds else 0
    return [statistics.median(values[i * size : (i + 1) * size]) for i in range(rounds)] if size else []


def drift_checks(workloads: list[Workload]) -> list[DriftCheck]:
    """Every evaluation of DRIFT_RULES on this run's workloads (the run is flagged if one fails)."""
    checks: list[DriftCheck] = []
    by_key = {w.key: w for w in workloads}
    send = by_key.get("announcement_sends")
    if send is not None and send.samples.get(MINIMAL_TRIGGER) and send.samples.get(IDEAL_APP):
        ratio = send.ratio(MINIMAL_TRIGGER, reference=IDEAL_APP)
        low, high = MINIMAL_TRIGGER_SEND_RATIOS
        checks.append(
            DriftCheck(
                "minimal_trigger",
                send.key,
                "minimal trigger / ideal app",
                ratio,
                f"{low:g}–{high:g}",
                ratio is not None and low <= ratio <= high,
            )
        )
    for key in NULL_REFERENCE_WORKLOADS:
        workload = by_key.get(key)
        if workload is None or not workload.samples.get(FLOOR):
            continue
        for reference in REFERENCES:
            if not workload.samples.get(reference):
                continue
            ratio = workload.ratio(reference, reference=FLOOR)
            checks.append(
                DriftCheck(
                    "null_references",
                    key,
                    f"{reference} / floor",
                    ratio,
                    f"1 ± {NULL_REFERENCE_TOLERANCE:g}",
                    ratio is not None and abs(ratio - 1) <= NULL_REFERENCE_TOLERANCE,
                )
            )
    for workload in workloads:
        rounds = workload.extra.get("rounds") or 0
        medians = round_medians(workload.samples.get(FLOOR) or [], rounds)
        if workload.reference != FLOOR or len(medians) < 2 or min(medians) <= 0:
            continue
        spread = max(medians) / min(medians)
        checks.append(
            DriftCheck(
                "floor_spread",
                workload.key,
                f"floor's slowest / fastest round median ({rounds} rounds)",
                spread,
                f"≤ {FLOOR_ROUND_SPREAD:g}",
                spread <= FLOOR_ROUND_SPREAD,
            )
        )
    return checks


def drift_table(checks: list[DriftCheck]) -> Table:
    table = Table(title="references: did one drift? (a failed rule flags the run instead of publishing it)")
    for name in ("rule", "workload", "subject", "value", "allowed", "passed"):
        table.add_column(name, justify="right" if name == "value" else "left")
    for check in checks:
        table.add_row(
            check.rule,
            check.workload,
            check.subject,
            "–" if check.value is None else f"{check.value:.3f}",
            check.limit,
            "[green]yes[/]" if check.passed else "[red]NO[/]",
        )
    return table


def milliseconds(seconds: float) -> str:
    value = seconds * 1000
    if value >= 10_000:
        return f"{seconds:,.1f} s"
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    return f"{value:.3f} ms"


def spread(summary: Summary) -> str:
    return f"IQR {milliseconds(summary.q1)}–{milliseconds(summary.q3)}"


def ratio_text(ratio: float | None, cpu: float | None = None) -> str:
    text = "–" if ratio is None else f"{ratio:.2f}×"
    return text if cpu is None else f"{text}\n[dim]cpu {cpu:.2f}×[/]"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def variant_cell(workload: Workload, variant: str, summaries: dict[str, Summary]) -> str:
    """Median and spread; for a variant other than the reference, its ratio to the reference and to each
    reference measured beside it (wall clock, server CPU dimmed)."""
    summary = summaries.get(variant)
    if summary is None:
        return "–"
    lines = [milliseconds(summary.median), f"[dim]{spread(summary)}[/]"]
    if variant == workload.reference:
        return "\n".join(lines)
    for reference in [workload.reference, *workload.side_references(variant)]:
        cpu = workload.ratio(variant, cpu=True, reference=reference)
        lines.append(
            f"{_ratio(workload.ratio(variant, reference=reference))} {label(reference)}"
            + ("" if cpu is None else f" [dim](cpu {cpu:.2f}×)[/]")
        )
    return "\n".join(lines)


def target_cell(workload: Workload, extras: list[str]) -> str:
    if workload.target is None:
        return ""
    reference = workload.target_reference()
    lines = []
    for variant in [PROJECT, *extras]:
        ratio = workload.target_ratio(variant)
        if ratio is None:
            continue
        met = ratio <= workload.target.max_ratio
        colour = "green" if met else "red"
        lines.append(
            f"{label(variant)} / {label(reference)} {ratio:.2f}× [{colour}]{'met' if met else 'missed'}[/]"
            if variant != PROJECT
            else f"[{colour}]{workload.target.text}: {ratio:.2f}× {'met' if met else 'missed'}[/]"
        )
    return "\n".join(lines) or workload.target.text


def figure_table(workloads: list[Workload], extras: list[str]) -> Table:
    """Each workload with its references side by side: medians (IQR) and, per variant, the ratio to the
    workload's reference and to the ideal app and the minimal trigger; the target, met or missed."""
    table = Table(
        title="delivery_linkage benchmark: medians (IQR); ratios = median of paired ratios variant / reference,"
        " wall clock (server CPU)"
    )
    columns = ["reference", IDEAL_APP, MINIMAL_TRIGGER, PROJECT, BASELINE, *extras]
    table.add_column("workload")
    for column in columns:
        table.add_column(label(column), justify="right")
    table.add_column("target")
    for workload in workloads:
        summaries = workload.summaries()
        table.add_row(
            f"{workload.label}\n[dim]per {workload.unit}; reference = {workload.reference_label}[/]",
            *[variant_cell(workload, workload.reference if c == "reference" else c, summaries) for c in columns],
            target_cell(workload, extras),
        )
    return table


@dataclass
class StorageGrowth:
    """What a variant's own relations grew by over a known number of linking attempts, in bytes.

    Relations are the variant's own: every table (and its TOAST table and indexes) that its copy of the
    data has and the floor's copy has not, in any schema; and, apart, the indexes it added to the app's
    tables. table_bytes: main fork of each table plus main fork of its TOAST table; index_bytes: their
    indexes, TOAST indexes included; total_bytes: pg_total_relation_size (every fork) of those tables."""

    variant: str
    attempts: int
    sends: int
    table_bytes: int
    index_bytes: int
    total_bytes: int
    app_index_bytes: int
    deliveries_table_bytes: int  # for scale: message_deliveries itself over the same sends
    deliveries_index_bytes: int
    audit_rows: int | None = None  # rows user_link_audit presents for the deliveries of these sends
    relations: dict[str, dict] = field(default_factory=dict)  # growth of each own table and app-table index
    app_indexes: list[str] = field(default_factory=list)  # the indexes it added on the app's tables

    def per_attempt(self, value: int) -> float:
        return value / self.attempts if self.attempts else float("nan")

    def met(self, max_table_bytes: float) -> bool | None:
        if not self.relations:
            return None
        return self.per_attempt(self.table_bytes) <= max_table_bytes

    def as_dict(self) -> dict:
        return asdict(self) | {
            "table_bytes_per_attempt": self.per_attempt(self.table_bytes),
            "index_bytes_per_attempt": self.per_attempt(self.index_bytes),
            "total_bytes_per_attempt": self.per_attempt(self.total_bytes),
            "app_index_bytes_per_attempt": self.per_attempt(self.app_index_bytes),
            "deliveries_table_bytes_per_attempt": self.per_attempt(self.deliveries_table_bytes),
            "deliveries_index_bytes_per_attempt": self.per_attempt(self.deliveries_index_bytes),
        }


def storage_table(growths: list[StorageGrowth], max_table_bytes: float) -> Table:
    """Bytes per attempt the audit storage grew by, per variant, with the target for the project."""
    table = Table(
        title="audit storage per attempt, over sends to linked guests (growth of the variant's own relations)"
    )
    for name in (
        "variant",
        "attempts",
        "table + TOAST",
        "its indexes",
        "total, every fork",
        "its indexes on app tables",
        "message_deliveries (for scale)",
        "target",
    ):
        table.add_column(name, justify="left" if name in ("variant", "target") else "right")
    for growth in growths:

        def per(value: int, growth: StorageGrowth = growth) -> str:
            return f"{growth.per_attempt(value):.1f} B" if growth.relations or value else "–"

        met = growth.met(max_table_bytes) if growth.variant == PROJECT else None
        target = ""
        if met is not None:
            target = f"[{'green' if met else 'red'}]≤ {max_table_bytes:g} B of table {'met' if met else 'missed'}[/]"
        table.add_row(
            label(growth.variant),
            f"{growth.attempts:,} in {growth.sends} sends",
            per(growth.table_bytes),
            per(growth.index_bytes),
            per(growth.total_bytes),
            f"{growth.per_attempt(growth.app_index_bytes):.1f} B ({len(growth.app_indexes)})"
            if growth.app_indexes
            else "–",
            f"{growth.per_attempt(growth.deliveries_table_bytes):.0f} B + "
            f"{growth.per_attempt(growth.deliveries_index_bytes):.0f} B indexes",
            target,
        )
    return table


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def chart_target(workload: dict) -> float | None:
    """The target on the chart's axis (ratio to the workload's reference): a target against another
    reference (the minimal trigger) is drawn at max_ratio × that reference's own ratio."""
    target = workload.get("target")
    if not target:
        return None
    reference = target.get("reference") or workload["reference"]
    if reference == workload["reference"]:
        return target["max_ratio"]
    scale = workload["ratios"].get(reference)
    return target["max_ratio"] * scale if scale else None


def chart_rows(document: dict) -> list[dict]:
    """What the chart draws, from a results document (bench/results/latest.json)."""
    return [
        {
            "label": w["label"],
            "reference_label": w["reference_label"],
            "ratios": {k: v for k, v in w["ratios"].items() if v},
            "target": chart_target(w),
        }
        for w in document["workloads"]
    ]


def write_chart(path: Path, rows: list[dict], variants: dict[str, str], title: str) -> bool:
    """Grouped horizontal bars of the ratios (log scale), each target dashed. False without matplotlib.

    rows: chart_rows(document); variants: variant name -> legend label, in drawing order."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    import matplotlib.ticker as ticker

    # references pale, the project in the one strong colour, the baseline and experiments apart
    palette = {IDEAL_APP: "#a8dadc", MINIMAL_TRIGGER: "#457b9d", PROJECT: "#e76f51", BASELINE: "#6a4c93"}
    others = iter(["#ffb703", "#2a9d8f", "#8d99ae", "#f4a261", "#264653"])
    colours = [palette.get(variant) or next(others, "#999999") for variant in variants]
    rows = [row for row in rows if any(row["ratios"].get(v) for v in variants)]
    height = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(10, 0.8 * len(rows) + 2.2))
    for index, (variant, legend) in enumerate(variants.items()):
        ys = [row_index + index * height for row_index in range(len(rows))]
        values = [row["ratios"].get(variant) or 0 for row in rows]
        bars = ax.barh(ys, values, height=height, label=legend, color=colours[index])
        for bar, value in zip(bars, values, strict=True):
            if value:
                ax.text(value * 1.03, bar.get_y() + bar.get_height() / 2, f"{value:.2f}×", va="center", fontsize=7)
    for row_index, row in enumerate(rows):
        if row["target"] is not None:
            y0 = row_index - height / 2
            ax.plot([row["target"]] * 2, [y0, y0 + 0.8], color="black", linestyle="--", linewidth=1)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.set_xticks([t for t in (0.1, 0.2, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100) if low <= t <= high])
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}×"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks([i + height * (len(variants) - 1) / 2 for i in range(len(rows))])
    ax.set_yticklabels([f"{row['label']}\n(ref: {row['reference_label']})" for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "median of paired ratios, time / reference time (log scale; dashed: target, in the reference's units)"
    )
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(variants), fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
