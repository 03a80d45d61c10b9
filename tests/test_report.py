"""`linkage report`: one self-contained HTML page, rendered in headless Chromium and checked on screen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from delivery_linkage import report
from delivery_linkage.database import dbt_runner
from delivery_linkage.devtools import synthetic, traffic
from delivery_linkage.operations import backfill
from delivery_linkage.report.svg import LINE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 2400


def dbt_run(settings) -> None:
    dbt_runner.run_dbt(["run"], settings, target_path="target/pytest_report").check()


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in ("rect", "circle", "line", "polyline", "polygon", "path", "meta", "br", "img"):
            self._open.append(attributes.get("id"))

    def handle_endtag(self, tag):
        if (
            tag not in ("rect", "circle", "line", "polyline", "polygon", "path", "meta", "br", "img")
            and self._open
        ):
            self._open.pop()

    def handle_data(self, data):
        for element_id in self._open:
            if element_id:
                self.text_by_id[element_id] = self.text_by_id.get(element_id, "") + data

    def find(self, tag: str, **attributes) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attributes.items())]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def pixels_near(image, colour: str, box: tuple[int, int, int, int] | None = None, tolerance: int = 6) -> int:
    target = hex_rgb(colour)
    region = image.crop(box) if box else image
    return sum(
        count
        for count, pixel in region.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], target, strict=True))
    )


@pytest.fixture
def reported_world(app_db, db):
    """Two checks two days apart, critical then healthy after the backfill; audit rows over three days."""
    synthetic.generate(db, synthetic.WorldShape(deliveries=3000))
    dbt_run(app_db)  # first check: the synthetic history's linkable-but-NULL deliveries, critical
    schema = report.marts_schema()
    db.execute(
        f"update {schema}.delivery_integrity_history "
        "set check_timestamp = check_timestamp - interval '2 days'"
    )
    backfill.run(db)
    traffic.play(db)
    db.execute("update user_link_audit set created_at = created_at - make_interval(days => (id % 3)::int)")
    # second check, healthy: what the next `dbt run` appends (delivery_integrity is a view)
    db.execute(f"insert into {schema}.delivery_integrity_history select * from {schema}.delivery_integrity")
    return app_db


@pytest.mark.dbt
@pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium missing: apt-get install -y chromium (Debian package)"
)
def test_the_report_renders_its_charts_and_figures_in_chromium(reported_world, db, tmp_path):
    bench = tmp_path / "latest.json"
    bench.write_text(
        json.dumps({"workloads": [{"name": "bulk_insert_1000", "ratio": 1.389, "ms": {"p50": 48.9}}]})
    )
    page = report.write_report(reported_world, tmp_path / "out" / "report.html", bench_path=bench)

    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page must be self-contained"
    assert "<script" not in html and "@import" not in html

    dom = Elements()
    dom.feed(chromium(page, tmp_path / "profile", "--dump-dom").stdout)
    charts = {a["id"] for a in dom.find("svg") if a.get("class") == "chart"}
    assert charts == {"chart-inconsistency", "chart-attempts", "chart-backfill"}
    assert len(dom.find("circle", **{"class": "point"})) == 2  # one per dbt run
    assert dom.find("polyline", **{"class": "series"}) and dom.find("line", **{"class": "threshold"})
    assert len(dom.find("rect", **{"class": "bar"})) >= 6  # several days × outcomes and kinds
    total = db.execute("select count(*) from message_deliveries").fetchone()[0]
    assert f"{total:,}" in dom.text_by_id["integrity"]
    assert dom.text_by_id["health-badge"].strip() == "healthy"
    assert "critical above 1%" in dom.text_by_id["chart-inconsistency"]
    assert "guest_record" in dom.text_by_id["attempts"] and "historical" in dom.text_by_id["backfill"]
    assert "event_guests" in dom.text_by_id["ambiguous-table"]  # the synthetic world shares a few phones
    assert "None." in dom.text_by_id["conflicts-table"]
    assert "bulk_insert_1000" in dom.text_by_id["bench-table"] and "1.389" in dom.text_by_id["bench-table"]

    from PIL import Image

    shot = tmp_path / "report.png"
    chromium(page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    with Image.open(shot) as image:
        image = image.convert("RGB")
        assert image.size == (WIDTH, HEIGHT)
        colours = image.getcolors(maxcolors=1 << 24)
        white = sum(count for count, pixel in colours if min(pixel) >= 250)
        assert len(colours) > 200 and white < 0.95 * WIDTH * HEIGHT, "the screenshot is blank"
        # the health badge, green, near the top; the history line in blue; the stacked bars below it
        assert pixels_near(image, report.HEALTH_COLOURS["healthy"], (0, 0, WIDTH, 300)) > 400
        assert pixels_near(image, report.HEALTH_COLOURS["critical"], (0, 0, WIDTH, 300)) == 0
        assert pixels_near(image, LINE, (0, 300, WIDTH, 900)) > 500
        linked_bars = report.OUTCOME_PALETTES["linked"][0]
        assert pixels_near(image, linked_bars, (0, 800, WIDTH, 1700)) > 2000


def test_missing_models_name_dbt_run(app_db, tmp_path):
    with pytest.raises(report.ReportError, match="dbt run"):
        report.write_report(app_db, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    "content, workloads",
    [
        ([{"name": "insert", "ratio": 1.2}], ["insert"]),
        ({"insert": {"ratio": 1.2}, "update": {"ratios": {"p50": 2.0}}}, ["insert", "update"]),
        ({"generated_at": "x", "workloads": {"insert": {"ratio": 1.2}}}, ["insert"]),
        ({"results": [{"workload": "bulk", "ratio": 3}]}, ["bulk"]),
    ],
)
def test_benchmark_results_are_read_whatever_their_shape(tmp_path, content, workloads):
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(content))
    bench = report.read_bench(path)
    names = [row.get("workload", row.get("name")) for row in bench["rows"]]
    assert names == workloads
    assert any("ratio" in column for column in bench["columns"])
    assert bench["columns"][0] in ("workload", "name")


def test_the_benchmark_document_shows_ratios_targets_and_medians_first(tmp_path):
    summary = {"n": 50, "median": 0.0004, "q1": 0.0003, "q3": 0.0005, "min": 0.0002, "max": 0.001}
    document = {
        "generated_at": "2026-11-24T04:00:00+00:00",
        "machine": {"nproc": 8},
        "workloads": [
            {
                "key": "single_insert",
                "label": "Single-row insert",
                "summaries": {"reference": summary, "project": summary | {"median": 0.0005}},
                "ratios": {"project": 1.25, "baseline": 1.9},
                "target": {"max_ratio": 1.5, "text": "<= 1.5x"},
                "met": True,
                "extra": {"rows": [1, 2, 3]},
            }
        ],
        "checks": [{"name": "a", "passed": True}, {"name": "b", "passed": False}],
    }
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(document))

    bench = report.read_bench(path)

    assert bench["columns"][:7] == [
        "key", "label", "ratios.project", "ratios.baseline", "target.max_ratio", "target.text", "met",
    ]  # fmt: skip
    assert bench["rows"][0]["summaries.project median"] == 0.0005
    assert bench["meta"] == {"generated_at": "2026-11-24T04:00:00+00:00", "checks passed": "1 of 2"}


def test_absent_or_broken_benchmark_results_do_not_stop_the_report(tmp_path):
    assert report.read_bench(tmp_path / "missing.json") is None
    broken = tmp_path / "latest.json"
    broken.write_text("{not json")
    assert report.read_bench(broken)["rows"] == [] and "could not read" in report.read_bench(broken)["note"]
    broken.write_text("42")
    assert report.read_bench(broken)["note"] == "no workloads found in it"
