"""The report's charts, drawn by matplotlib (a dependency of the product) as inline SVG: a time series
with a threshold, and bars per day stacked by series. No JavaScript, no external reference.

matplotlib lays the chart out (constrained layout: no label leaves the figure), picks the date ticks
(ConciseDateFormatter) and writes text as text (svg.fonttype none: the page's font, selectable, read by
screen readers). Each point and bar carries a <title> (the browser's tooltip) with its exact figures:
matplotlib wraps an artist with a gid in <g id="…">, and the title is put inside that group. Output is
reproducible (fixed hash salt, no date in the metadata). The legend is HTML (it wraps with the page).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape

AXIS = "#57606a"
GRID = "#d8dee4"
LINE = "#0969da"
THRESHOLD = "#cf222e"
DPI = 96
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "delivery_linkage",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 10,
    "axes.edgecolor": AXIS,
    "axes.labelcolor": AXIS,
    "xtick.color": AXIS,
    "ytick.color": AXIS,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": GRID,
    "axes.axisbelow": True,
}


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return f"{int(round(value)):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _figure(width: int, height: int):
    from matplotlib.figure import Figure

    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def _svg(figure, chart_id: str, label: str, titles: dict[str, str], mark_titles: dict | None = None) -> str:
    """The figure as an inline <svg>: scalable (viewBox, width 100 %), labelled, with each titled
    artist's <title> inside its group, and for a collection (gid in mark_titles) one <title> inside
    each of its marks (<use> elements, in the order of the data)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(
        r'<svg [^>]*?width="[^"]*" height="[^"]*" (viewBox="[^"]*")[^>]*>',
        lambda m: (
            f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(label)}" '
            f'xmlns="http://www.w3.org/2000/svg" {m.group(1)} width="100%" preserveAspectRatio="xMidYMid meet">'
            f"<title>{escape(label)}</title>"
        ),
        svg,
        count=1,
    )
    # ids unique in the page (several charts, one document): every id and reference gets the chart's
    # prefix, and matplotlib's global style rule is scoped to this chart
    prefix = f"{chart_id}-"

    def own(name: str) -> str:
        return name if name.startswith(prefix) else prefix + name

    svg = re.sub(r'(<(?!svg )[^>]*? id=")([^"]+)"', lambda m: f'{m.group(1)}{own(m.group(2))}"', svg)
    svg = re.sub(r'(href="#)([^"]+)"', lambda m: f'{m.group(1)}{own(m.group(2))}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{own(m.group(1))})", svg)
    svg = svg.replace("<style type=\"text/css\">*{", f'<style type="text/css">#{escape(chart_id)} *{{')
    for gid, title in titles.items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{escape(title)}</title>', 1)
    for gid, marks in (mark_titles or {}).items():
        start = svg.find(f'<g id="{gid}">')
        if start < 0:
            continue
        indent = svg[svg.rfind("\n", 0, start) + 1 : start]  # matplotlib indents by depth: the group's own </g>
        end = svg.find(f"\n{indent}</g>", start)
        group = re.sub(r"<use ([^>]*?)/>", _titled_marks(iter(marks)), svg[start:end])
        svg = svg[:start] + group + svg[end:]
    return svg.strip()


def _titled_marks(titles):
    """A re.sub replacement giving each <use/> mark the next title."""
    return lambda match: f"<use {match.group(1)}><title>{escape(next(titles, ''))}</title></use>"


def line_chart(
    chart_id: str,
    label: str,
    points: Sequence[tuple[datetime, float]],
    threshold: float | None = None,
    threshold_label: str = "",
    unit: str = "",
    point_colours: Sequence[str] | None = None,
    point_notes: Sequence[str] | None = None,
    width: int = 960,
    height: int = 280,
) -> str:
    """A time series (UTC) with an optional dashed threshold line; point_colours and point_notes (same
    order as points) colour each point and add to its tooltip."""
    import matplotlib
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    colours = list(point_colours) if point_colours else [LINE] * len(points)
    notes = list(point_notes) if point_notes else [""] * len(points)
    order = sorted(range(len(points)), key=lambda k: points[k][0])
    points = [(points[k][0].astimezone(UTC), points[k][1]) for k in order]
    colours, notes = [colours[k] for k in order], [notes[k] for k in order]
    titles: dict[str, str] = {}
    point_titles: dict[str, list[str]] = {}
    with matplotlib.rc_context(STYLE):
        figure = _figure(width, height)
        axes = figure.add_subplot()
        values = [value for _, value in points]
        top = max(values + ([threshold * 1.25] if threshold is not None else []) + [0.0]) or 1.0
        axes.set_ylim(0, top * 1.1)
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _fmt(value) + unit))
        if threshold is not None:
            line = axes.axhline(threshold, color=THRESHOLD, linewidth=1.5, linestyle=(0, (6, 4)))
            line.set_gid(f"{chart_id}-threshold")
            titles[f"{chart_id}-threshold"] = threshold_label
            axes.annotate(
                threshold_label, xy=(1, threshold), xycoords=("axes fraction", "data"), xytext=(-4, 4),
                textcoords="offset points", ha="right", va="bottom", color=THRESHOLD,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": "#fff", "edgecolor": "none", "alpha": 0.85},
            )  # fmt: skip
        if points:
            times = [moment for moment, _ in points]
            if len(points) > 1:
                axes.fill_between(times, values, color=LINE, alpha=0.10, linewidth=0)
                series = axes.plot(times, values, color=LINE, linewidth=2.5, solid_joinstyle="round")[0]
                series.set_gid(f"{chart_id}-series")
            size = 7 if len(points) <= 60 else 4
            markers = axes.scatter(times, values, s=size**2, c=colours, edgecolors="#fff", linewidths=1, zorder=3)
            markers.set_gid(f"{chart_id}-points")
            point_titles[f"{chart_id}-points"] = [
                f"{moment:%Y-%m-%d %H:%M} UTC: {_fmt(value)}{unit}" + (f" ({note})" if note else "")
                for (moment, value), note in zip(points, notes, strict=True)
            ]
            locator = AutoDateLocator(tz=UTC, maxticks=10)
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC))
            if times[-1] - times[0] < timedelta(minutes=2):  # one moment, or checks seconds apart: a few minutes
                axes.set_xlim(times[0] - timedelta(minutes=5), times[-1] + timedelta(minutes=5))
        return _svg(figure, chart_id, label, titles, point_titles)


@dataclass
class Series:
    label: str
    color: str
    values: list[float]

    @property
    def total(self) -> float:
        return sum(self.values)


def stacked_bar_chart(
    chart_id: str,
    label: str,
    days: Sequence[date],
    series: Sequence[Series],
    width: int = 960,
    height: int = 300,
) -> str:
    """One bar per day, stacked by series (bottom first)."""
    import matplotlib
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    titles: dict[str, str] = {}
    with matplotlib.rc_context(STYLE):
        figure = _figure(width, height)
        axes = figure.add_subplot()
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _fmt(value)))
        if days:
            moments = [datetime(day.year, day.month, day.day, tzinfo=UTC) for day in days]
            bases = [0.0] * len(days)
            for s_index, s in enumerate(series):
                bars = axes.bar(moments, s.values, bottom=bases, width=0.75, color=s.color, linewidth=0)
                for d_index, (bar, value) in enumerate(zip(bars, s.values, strict=True)):
                    if value > 0:
                        gid = f"{chart_id}-bar-{s_index}-{d_index}"
                        bar.set_gid(gid)
                        titles[gid] = f"{days[d_index].isoformat()} · {s.label}: {_fmt(value)}"
                bases = [base + value for base, value in zip(bases, s.values, strict=True)]
            locator = AutoDateLocator(tz=UTC, minticks=2, maxticks=8)
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(DateFormatter("%b %d", tz=UTC))
            axes.set_ylim(0, max(bases + [0.0]) * 1.05 or 1.0)
            axes.set_xlim(moments[0] - timedelta(days=0.6), moments[-1] + timedelta(days=0.6))
        return _svg(figure, chart_id, label, titles)


def legend(series: Sequence[Series]) -> str:
    """An HTML legend (wraps with the page) with each series' total."""
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{s.color}"></span>'
        f"{escape(s.label)} <b>{escape(_fmt(s.total))}</b></span>"
        for s in series
    )
    return f'<div class="legend">{items}</div>'
