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


@dataclass
class Target:
    """What the issue asks of the project's ratio to the reference: ratio <= max_ratio."""

    max_ratio: float
    text: str


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

    def ratio(self, variant: str, cpu: bool = False) -> float | None:
        """Median of the paired ratios (operation i of the variant over operation i of the reference,
        run back to back) when the samples pair up; else the ratio of the medians."""
        samples = self.cpu if cpu else self.samples
        values, reference = samples.get(variant) or [], samples.get(self.reference) or []
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

    def met(self) -> bool | None:
        if self.target is None:
            return None
        ratio = self.ratio("project")
        return None if ratio is None else ratio <= self.target.max_ratio

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
            "ratios_of_medians": {
                variant: self.ratio_of_medians(variant) for variant in summaries if variant != self.reference
            },
            "cpu_summaries": {variant: asdict(Summary.of(values)) for variant, values in self.cpu.items() if values},
            "cpu_ratios": {variant: self.ratio(variant, cpu=True) for variant in self.cpu if variant != self.reference},
            "target": None if self.target is None else asdict(self.target),
            "met": self.met(),
            "extra": self.extra,
        }


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


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


def figure_table(workloads: list[Workload], extras: list[str]) -> Table:
    """Medians with spread, and the ratios project / reference and baseline / reference."""
    table = Table(
        title="delivery_linkage benchmark: medians (IQR); ratios = median of paired ratios variant / reference,"
        " wall clock (and server CPU)"
    )
    table.add_column("workload")
    table.add_column("reference", justify="right")
    table.add_column("project", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("project / ref", justify="right")
    table.add_column("baseline / ref", justify="right")
    for extra in extras:
        table.add_column(f"{extra} / ref", justify="right")
    table.add_column("target")
    for workload in workloads:
        summaries = workload.summaries()

        def cell(variant: str, summaries: dict[str, Summary] = summaries) -> str:
            summary = summaries.get(variant)
            return "–" if summary is None else f"{milliseconds(summary.median)}\n[dim]{spread(summary)}[/]"

        met = workload.met()
        target = "" if workload.target is None else workload.target.text
        if met is not None:
            target = f"[{'green' if met else 'red'}]{target} {'met' if met else 'missed'}[/]"
        table.add_row(
            f"{workload.label}\n[dim]per {workload.unit}; ref = {workload.reference_label}[/]",
            cell(workload.reference),
            cell("project"),
            cell("baseline"),
            ratio_text(workload.ratio("project"), workload.ratio("project", cpu=True)),
            ratio_text(workload.ratio("baseline"), workload.ratio("baseline", cpu=True)),
            *[ratio_text(workload.ratio(extra), workload.ratio(extra, cpu=True)) for extra in extras],
            target,
        )
    return table


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def chart_rows(document: dict) -> list[dict]:
    """What the chart draws, from a results document (bench/results/latest.json)."""
    return [
        {
            "label": w["label"],
            "reference_label": w["reference_label"],
            "ratios": {k: v for k, v in w["ratios"].items() if v},
            "target": w["target"]["max_ratio"] if w["target"] else None,
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
    colours = ["#2a9d8f", "#e76f51", "#6a4c93", "#ffb703", "#8d99ae"]
    rows = [row for row in rows if any(row["ratios"].get(v) for v in variants)]
    height = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(10, 0.8 * len(rows) + 2.2))
    for index, (variant, legend) in enumerate(variants.items()):
        ys = [row_index + index * height for row_index in range(len(rows))]
        values = [row["ratios"].get(variant) or 0 for row in rows]
        bars = ax.barh(ys, values, height=height, label=legend, color=colours[index % len(colours)])
        for bar, value in zip(bars, values, strict=True):
            if value:
                ax.text(value * 1.03, bar.get_y() + bar.get_height() / 2, f"{value:.2f}×", va="center", fontsize=7)
    for row_index, row in enumerate(rows):
        if row["target"] is not None:
            y0 = row_index - height / 2
            ax.plot([row["target"]] * 2, [y0, y0 + 0.8], color="black", linestyle="--", linewidth=1)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks([i + height * (len(variants) - 1) / 2 for i in range(len(rows))])
    ax.set_yticklabels([f"{row['label']}\n(ref: {row['reference_label']})" for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median of paired ratios, time / reference time (log scale; dashed: target)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(variants), fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
