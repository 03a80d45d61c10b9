"""Inline SVG charts for the report: a line chart and a stacked bar chart, no JavaScript, no library.

Every mark carries a <title> (the browser's tooltip) with its exact figures; text stays text (the
page's font, selectable, read by screen readers). No label may leave the chart: the left margin is
sized to the widest y label, time ticks fall on round times, and an x label that would cross an edge
of the view box is anchored to that edge instead of centred on its tick. tests/test_report.py
measures every label in Chromium.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape

AXIS = "#57606a"
GRID = "#d8dee4"
LINE = "#0969da"
THRESHOLD = "#cf222e"
FONT_SIZE = 11
FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}"'
EDGE = 3  # labels keep this far from the view box's edges


def text_width(text: str) -> float:
    """A generous estimate of a label's width: wide sans fonts (DejaVu Sans digits are 0.64 em)."""
    return FONT_SIZE * sum(0.34 if c in " .,:-" else 0.68 for c in text)


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """0, step, 2·step … covering maximum, with step 1, 2 or 5 × 10^k."""
    if maximum <= 0 or not math.isfinite(maximum):
        maximum = 1.0
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return f"{int(round(value)):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


@dataclass
class Frame:
    width: int
    height: int
    left: float = 60
    right: float = 24
    top: float = 16
    bottom: float = 44

    @classmethod
    def for_ticks(cls, width: int, height: int, ticks: list[float], unit: str) -> Frame:
        """A frame whose left margin holds the widest y-axis label."""
        widest = max(text_width(_fmt(tick) + unit) for tick in ticks)
        return cls(width, height, left=max(40.0, math.ceil(widest) + 6 + EDGE + 4))

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float, top_value: float) -> float:
        return self.top + self.plot_height * (1 - value / top_value)


def _y_axis(frame: Frame, ticks: list[float], unit: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = frame.y(tick, ticks[-1])
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}" {FONT}>'
            f"{escape(_fmt(tick) + unit)}</text>"
        )
    bottom = frame.top + frame.plot_height
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{bottom}" y2="{bottom}" '
        f'stroke="{AXIS}" stroke-width="1"/>'
    )
    return parts


def _x_label(frame: Frame, x: float, text: str) -> str:
    """A label under the plot, centred on x unless that would cross an edge of the view box: then it is
    anchored at the edge it would cross, so its true width (whatever the font) cannot overflow."""
    half = text_width(text) / 2
    if x - half < EDGE:
        anchor, x = "start", max(x - half, EDGE)
    elif x + half > frame.width - EDGE:
        anchor, x = "end", min(x + half, frame.width - EDGE)
    else:
        anchor = "middle"
    return (
        f'<text class="x-label" x="{x:.1f}" y="{frame.height - frame.bottom + 18}" text-anchor="{anchor}" '
        f'fill="{AXIS}" {FONT}>{escape(text)}</text>'
    )


# (step in seconds, or months as a negative number), up to six ticks per chart
TIME_STEPS = [
    60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, -1, -3, -6, -12,
]  # fmt: skip


def time_ticks(start: datetime, end: datetime, most: int = 6) -> list[tuple[datetime, str]]:
    """Round moments between start and end (UTC) and their labels: hours and minutes within a day
    (with the date where it changes), days, or months. Fewer than two round moments: start and end."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    span = (end - start).total_seconds()
    for step in TIME_STEPS:
        if step > 0 and span / step <= most or step < 0 and span / (-step * 30.4 * 86400) <= most:
            break
    moments: list[datetime] = []
    if step > 0:
        offset = 4 * 86400 if step == 7 * 86400 else 0  # weeks start on Monday (the epoch was a Thursday)
        first = math.ceil((start.timestamp() - offset) / step) * step + offset
        moments = [datetime.fromtimestamp(first + k * step, tz=UTC) for k in range(most + 2)]
    else:
        months = -step
        year, month = start.year, start.month
        month_index = year * 12 + month - 1
        month_index = math.ceil(month_index / months) * months
        if datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC) < start:
            month_index += months
        for k in range(most + 2):
            index = month_index + k * months
            moments.append(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))
    moments = [m for m in moments if start <= m <= end]
    if len(moments) < 2:  # no two round moments in the span: its ends, in full
        ends = [start, end] if span > 0 else [start]
        texts = list(dict.fromkeys(moment.strftime("%b %d %H:%M") for moment in ends))
        return [(ends[k], text) for k, text in enumerate(texts)]
    labels: list[tuple[datetime, str]] = []
    previous: datetime | None = None
    for moment in moments:
        if step < 0:
            text = moment.strftime("%b %Y")
        elif step >= 86400 or moment.hour == moment.minute == 0:  # a day, or midnight: the date alone
            text = moment.strftime("%b %d" if start.year == end.year else "%b %d %Y")
        elif previous is None or previous.date() != moment.date():
            text = moment.strftime("%b %d %H:%M")
        else:
            text = moment.strftime("%H:%M")
        labels.append((moment, text))
        previous = moment
    return labels


def _svg(frame: Frame, chart_id: str, label: str, body: list[str]) -> str:
    return (
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet"><title>{escape(label)}</title>'
        + "".join(body)
        + "</svg>"
    )


def line_chart(
    chart_id: str,
    label: str,
    points: Sequence[tuple[datetime, float]],
    threshold: float | None = None,
    threshold_label: str = "",
    unit: str = "",
    point_colours: Sequence[str] | None = None,
    width: int = 960,
    height: int = 280,
) -> str:
    """A time series with an optional dashed threshold line; point_colours (same order) mark each point.

    Times are shown in UTC."""
    colours = list(point_colours) if point_colours else [LINE] * len(points)
    order = sorted(range(len(points)), key=lambda k: points[k][0])
    points = [(points[k][0].astimezone(UTC), points[k][1]) for k in order]
    colours = [colours[k] for k in order]
    values = [v for _, v in points]
    top = max(values + ([threshold * 1.25] if threshold is not None else []) + [0.0])
    ticks = nice_ticks(top * 1.1 if top else 1.0)
    frame = Frame.for_ticks(width, height, ticks, unit)
    body = _y_axis(frame, ticks, unit)
    if not points:
        return _svg(frame, chart_id, label, body)
    start, end = points[0][0].timestamp(), points[-1][0].timestamp()
    span = end - start

    def x_of(moment: datetime) -> float:
        if span <= 0:
            return frame.left + frame.plot_width / 2
        return frame.left + frame.plot_width * (moment.timestamp() - start) / span

    for moment, text in time_ticks(points[0][0], points[-1][0]):
        x = x_of(moment)
        bottom = frame.top + frame.plot_height
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="{AXIS}"/>')
        body.append(_x_label(frame, x, text))
    if threshold is not None:
        y = frame.y(threshold, ticks[-1])
        body.append(
            f'<line class="threshold" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{THRESHOLD}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{frame.width - frame.right - 4}" y="{y - 5:.1f}" text-anchor="end" fill="{THRESHOLD}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke" {FONT}>{escape(threshold_label)}</text>'
        )
    coords = [(x_of(t), frame.y(v, ticks[-1])) for t, v in points]
    bottom = frame.top + frame.plot_height
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(
            f'<polygon points="{coords[0][0]:.1f},{bottom} {path} {coords[-1][0]:.1f},{bottom}" '
            f'fill="{LINE}" fill-opacity="0.10"/>'
            f'<polyline class="series" points="{path}" fill="none" stroke="{LINE}" stroke-width="2.5" '
            'stroke-linejoin="round"/>'
        )
    radius = 4 if len(coords) <= 60 else 2
    for (moment, value), (x, y), colour in zip(points, coords, colours, strict=True):
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}" stroke="#fff">'
            f"<title>{escape(moment.strftime('%Y-%m-%d %H:%M UTC'))}: "
            f"{escape(_fmt(value) + unit)}</title></circle>"
        )
    return _svg(frame, chart_id, label, body)


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
    totals = [sum(s.values[i] for s in series) for i in range(len(days))]
    ticks = nice_ticks(max(totals + [0.0]) * 1.05 or 1.0)
    frame = Frame.for_ticks(width, height, ticks, "")
    body = _y_axis(frame, ticks, "")
    if not days:
        return _svg(frame, chart_id, label, body)
    slot = frame.plot_width / len(days)
    bar = max(min(slot * 0.75, 48), 1.0)
    every = max(1, math.ceil(len(days) / 10))
    for i, day in enumerate(days):
        x = frame.left + slot * i + (slot - bar) / 2
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            y_top, y_bottom = frame.y(base + value, ticks[-1]), frame.y(base, ticks[-1])
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y_top:.1f}" width="{bar:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{s.color}">'
                f"<title>{escape(day.isoformat())} · {escape(s.label)}: {escape(_fmt(value))}</title></rect>"
            )
            base += value
        if i % every == 0 or i == len(days) - 1 and len(days) <= 10:
            body.append(_x_label(frame, x + bar / 2, day.strftime("%b %d")))
    return _svg(frame, chart_id, label, body)


def legend(series: Sequence[Series]) -> str:
    """An HTML legend (wraps with the page) with each series' total."""
    items = "".join(
        f'<span class="legend-item"><span class="swatch" style="background:{s.color}"></span>'
        f"{escape(s.label)} <b>{escape(_fmt(s.total))}</b></span>"
        for s in series
    )
    return f'<div class="legend">{items}</div>'
