"""The report's charts two ways, measured side by side in one run: matplotlib (report/charts.py, what
the report uses) against the project's former own SVG writer (report/svg.py, 294 lines, read from git
history at REFERENCE_COMMIT, so the measurement can be repeated without keeping that code).

    python -m delivery_linkage_devtools.chart_comparison [--runs 7] [--out docs/report-charts.md]

Same data for both: the report's two chart kinds at their largest (a 1000-check history with a
threshold; 90 days of bars stacked by 12 series). Measured, alternating the two writers:
- cold time: a fresh interpreter that imports the writer and draws both charts (what `linkage report`
  pays once), median of --runs;
- warm time: drawing both charts again in one process, median of 5;
- bytes of SVG in the page;
- text leaving its box, in headless Chromium at 1280 and 500 px (tests/report_layout_check.js, the
  report test's own check);
- tooltips (<title> per point or bar) and text kept as text (<text> elements);
- lines of code to maintain.
Writes a Markdown table (ratios against the own writer) into --out, as the block chart_comparison
(markers.py; the rest of the page, the decision, is written by hand); prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from delivery_linkage_devtools import markers

CHECKOUT = Path(__file__).resolve().parents[3]
REFERENCE_COMMIT = "c636780"  # the last commit with src/delivery_linkage/report/svg.py
REFERENCE_PATH = "src/delivery_linkage/report/svg.py"
LAYOUT_CHECK = CHECKOUT / "tests" / "report_layout_check.js"
CSS = CHECKOUT / "src" / "delivery_linkage" / "templates" / "report.css"
BLOCK, COMMAND = "chart_comparison", "python -m delivery_linkage_devtools.chart_comparison"  # markers.py's block

DRAW = """
import sys, time
from datetime import UTC, date, datetime, timedelta
sys.path.insert(0, {folder!r})
started = time.perf_counter()
import {module} as writer
start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
points = [(start + timedelta(hours=20 * k), (k * 37 % 101) / 40) for k in range(1000)]
colours = ["#1a7f37" if v == 0 else "#bf8700" if v <= 1 else "#cf222e" for _, v in points]
line = writer.line_chart("history", "Inconsistency", points, threshold=1.0, threshold_label="critical above 1%",
                         unit="%", point_colours=colours)
days = [date(2026, 9, 1) + timedelta(days=k) for k in range(90)]
series = [writer.Series(f"outcome {{s}}", "#{{:06x}}".format(0x1a7f37 + 0x0f0f0f * s), [float((d * 7 + s * 13) % 50)
          for d in range(90)]) for s in range(12)]
bars = writer.stacked_bar_chart("attempts", "Attempts per day", days, series)
print(time.perf_counter() - started)
"""


def load_reference(folder: Path) -> Path:
    command = ["git", "show", f"{REFERENCE_COMMIT}:{REFERENCE_PATH}"]
    source = subprocess.run(command, cwd=CHECKOUT, capture_output=True, text=True, check=True).stdout
    path = folder / "own_svg_writer.py"
    path.write_text(source)
    return path


def cold_seconds(folder: Path, module: str) -> float:
    code = DRAW.format(folder=str(folder), module=module)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def charts(writer) -> tuple[str, str, float]:
    """The two charts from `writer`, and the median seconds of 20 warm draws of both."""
    start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    points = [(start + timedelta(hours=20 * k), (k * 37 % 101) / 40) for k in range(1000)]
    colours = ["#1a7f37" if v == 0 else "#bf8700" if v <= 1 else "#cf222e" for _, v in points]
    days = [date(2026, 9, 1) + timedelta(days=k) for k in range(90)]
    series = [
        writer.Series(f"outcome {s}", f"#{0x1a7f37 + 0x0f0f0f * s:06x}", 
                      [float((d * 7 + s * 13) % 50) for d in range(90)])
        for s in range(12)
    ]
    times = []
    for _ in range(5):
        began = time.perf_counter()
        line = writer.line_chart(
            "history", "Inconsistency", points, threshold=1.0, threshold_label="critical above 1%", unit="%",
            point_colours=colours,
        )  # fmt: skip
        bars = writer.stacked_bar_chart("attempts", "Attempts per day", days, series)
        times.append(time.perf_counter() - began)
    return line, bars, statistics.median(times)


def layout(page: Path, width: int, profile: Path) -> dict:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"problems": ["chromium missing"], "checked": 0}
    checked = page.with_name(f"{page.stem}.{width}.html")
    checked.write_text(page.read_text().replace("</body>", f"<script>{LAYOUT_CHECK.read_text()}</script></body>"))
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
        "--dump-dom", f"--window-size={width},1200", checked.as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="layout-check">(\{.*?\})</pre>', dom, re.S)
    from html import unescape

    return json.loads(unescape(found.group(1))) if found else {"problems": ["the check did not run"], "checked": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=CHECKOUT / "docs" / "report-charts.md")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        load_reference(folder)
        sys.path.insert(0, str(folder))
        import own_svg_writer

        from delivery_linkage.report import charts as matplotlib_writer

        writers = {"own SVG writer": (own_svg_writer, "own_svg_writer", folder), "matplotlib": (
            matplotlib_writer, "delivery_linkage.report.charts", folder)}
        cold: dict[str, list[float]] = {name: [] for name in writers}
        for _ in range(options.runs):  # alternating, so that load on the machine falls on both
            for name, (_, module, where) in writers.items():
                cold[name].append(cold_seconds(where, module))
        results = {}
        for name, (writer, _, _) in writers.items():
            line, bars, warm = charts(writer)
            page = folder / f"{name.replace(' ', '_')}.html"
            page.write_text(
                f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{CSS.read_text()}</style></head><body>'
                f"<section>{line}</section><section>{bars}</section></body></html>"
            )
            verdicts = {width: layout(page, width, folder / "profile") for width in (1280, 500)}
            svg = line + bars
            results[name] = {
                "cold": statistics.median(cold[name]),
                "warm": warm,
                "bytes": len(svg.encode()),
                "problems": {width: len(v["problems"]) for width, v in verdicts.items()},
                "checked": {width: v["checked"] for width, v in verdicts.items()},
                "titles": len(re.findall(r"<title>", svg)) - 2,
                "texts": len(re.findall(r"<text\b", svg)),
                "lines": len(Path(writer.__file__).read_text().splitlines()),
            }
    own, mpl = results["own SVG writer"], results["matplotlib"]
    rows = [
        ("cold: import and draw both charts, fresh interpreter (median s)", "cold", "{:.2f}"),
        ("warm: draw both charts again in the same process (median of 5, s)", "warm", "{:.3f}"),
        ("SVG bytes in the page", "bytes", "{:,}"),
        ("tooltips (a <title> per point or bar)", "titles", "{:,}"),
        ("text kept as text (<text> elements)", "texts", "{:,}"),
        ("lines of code to maintain", "lines", "{:,}"),
    ]
    lines = [
        f"Written by `python -m delivery_linkage_devtools.chart_comparison --runs {options.runs}` "
        f"({date.today().isoformat()}, this machine; the own writer read from git at {REFERENCE_COMMIT}). "
        "Same data for both: a 1,000-check history with a threshold, 90 days of bars stacked by 12 series.",
        "",
        "| measure | own SVG writer | matplotlib | matplotlib / own |",
        "|---|---:|---:|---:|",
    ]
    for label, key, form in rows:
        ratio = mpl[key] / own[key] if own[key] else float("nan")
        lines.append(f"| {label} | {form.format(own[key])} | {form.format(mpl[key])} | {ratio:.2f}× |")
    for width in (1280, 500):
        lines.append(
            f"| text leaving its box in Chromium at {width} px (of labels checked) | {own['problems'][width]} "
            f"(of {own['checked'][width]}) | {mpl['problems'][width]} (of {mpl['checked'][width]}) | |"
        )
    block = markers.block(BLOCK, COMMAND, "\n".join(lines))
    page = options.out.read_text() if options.out.exists() else ""
    if BLOCK in markers.names(page):
        markers.write(options.out, block)
    else:
        options.out.write_text((page.rstrip("\n") + "\n\n" if page else "") + block + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
