"""`linkage report`: one self-contained HTML page, rendered in headless Chromium and checked on screen:
charts and figures drawn, no text outside its box (tests/report_layout_check.js), phones and names
redacted unless --show-pii, every term glossed once."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

import world as w
from delivery_linkage import report
from delivery_linkage.database import dbt_runner
from delivery_linkage.operations import backfill
from delivery_linkage.report import glossary
from delivery_linkage.report.svg import LINE, Series, line_chart, stacked_bar_chart
from delivery_linkage_devtools import app_fixture, synthetic, traffic

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium missing: apt-get install -y chromium (Debian package)"
)
WIDTH, HEIGHT = 1280, 2400
NARROW = 500  # headless Chromium's narrowest window: a phone-sized page
LAYOUT_CHECK = Path(__file__).with_name("report_layout_check.js")
CLIPPED_CHART = Path(__file__).parent / "fixtures" / "report_clipped_axis_label.html"
GUEST_NAME, GUEST_PHONE = "Ada Lovelace", "+15550001234"  # the linkable-but-NULL guest the world adds


def dbt_run(settings) -> None:
    dbt_runner.run_dbt(["run"], settings, target_path="target/pytest_report").check()


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
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


def layout_problems(page: Path, profile: Path, width: int) -> dict:
    """tests/report_layout_check.js run on a copy of `page` at `width`: its verdict (problems, checked)."""
    checked = page.with_name(page.stem + f".layout-{width}.html")
    html = page.read_text(encoding="utf-8")
    checked.write_text(html.replace("</body>", f"<script>{LAYOUT_CHECK.read_text()}</script></body>"))
    dom = chromium(checked, profile, "--dump-dom", f"--window-size={width},1200").stdout
    verdict = re.search(r'<pre id="layout-check">(\{.*?\})</pre>', dom, re.S)
    assert verdict, "the layout check did not run"
    return json.loads(unescape(verdict.group(1)))


@pytest.fixture(scope="module")
def reported_world(server, template_database):
    """Two checks two days apart, critical then warning: the synthetic history (shared phones among
    them), backfilled, live traffic over three days of audit rows, and one guest, named, who signed up
    after an announcement reached her: linkable but NULL."""
    name = f"linkage_test_report_{uuid.uuid4().hex[:12]}"
    app_fixture.create_database(server, name, template=template_database)
    settings = server.with_database(name)
    try:
        with psycopg.connect(settings.conninfo(), autocommit=True) as db:
            synthetic.generate(db, synthetic.WorldShape(deliveries=3000))
            dbt_run(settings)  # first check: the synthetic history's linkable-but-NULL deliveries, critical
            schema = report.marts_schema()
            db.execute(
                f"update {schema}.delivery_integrity_history "
                "set check_timestamp = check_timestamp - interval '2 days'"
            )
            backfill.run(db)
            traffic.play(db)
            # spread the audit over three days (the audit's storage: groups of attempts)
            db.execute(
                "update delivery_linkage.link_attempts"
                " set created_at = created_at - make_interval(days => (id % 3)::int)"
            )
            event = w.event(db)
            message = w.message(db, event)
            db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
            guest = w.guest(db, event, None, GUEST_PHONE, name=GUEST_NAME)
            w.deliver(db, message, guest, GUEST_PHONE)
            db.execute(
                "update event_guests set user_id = %s, updated_at = clock_timestamp() where id = %s",
                (w.user(db, GUEST_PHONE), guest),
            )
            db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
            # second check, warning: what the next `dbt run` appends (delivery_integrity is a view)
            db.execute(
                f"insert into {schema}.delivery_integrity_history select * from {schema}.delivery_integrity"
            )
        yield settings
    finally:
        app_fixture.drop_database(server, name)


@pytest.fixture(scope="module")
def pages(reported_world, tmp_path_factory):
    """The report as written by default (PII redacted) and with show_pii."""
    folder = tmp_path_factory.mktemp("report")
    return {
        "redacted": report.write_report(reported_world, folder / "out" / "report.html"),
        "with_pii": report.write_report(reported_world, folder / "out" / "report-pii.html", show_pii=True),
    }


@pytest.mark.dbt
@needs_chromium
def test_the_report_renders_its_charts_and_figures_in_chromium(reported_world, pages, tmp_path):
    page = pages["redacted"]
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
    with psycopg.connect(reported_world.conninfo()) as db:
        total = db.execute("select count(*) from message_deliveries").fetchone()[0]
    assert f"{total:,}" in dom.text_by_id["integrity"]
    assert dom.text_by_id["health-badge"].strip() == "warning"
    assert "critical above 1%" in dom.text_by_id["chart-inconsistency"]
    assert "guest_record" in dom.text_by_id["attempts"] and "historical" in dom.text_by_id["backfill"]
    assert "event_guests" in dom.text_by_id["ambiguous-table"]  # the synthetic world shares a few phones
    assert "None." in dom.text_by_id["conflicts-table"]
    assert "delivery_before_guest_link" in dom.text_by_id["linkable-null-table"]
    sections = [a["id"] for a in dom.find("section")]
    assert sections == [
        "integrity", "history", "attempts", "backfill", "ambiguous", "conflicts", "linkable-null", "terms",
    ]  # fmt: skip
    assert "bench" not in html.lower()  # developer material: not in the data team's report

    from PIL import Image

    shot = tmp_path / "report.png"
    chromium(page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    with Image.open(shot) as image:
        image = image.convert("RGB")
        assert image.size == (WIDTH, HEIGHT)
        colours = image.getcolors(maxcolors=1 << 24)
        white = sum(count for count, pixel in colours if min(pixel) >= 250)
        assert len(colours) > 200 and white < 0.95 * WIDTH * HEIGHT, "the screenshot is blank"
        # the health badge, amber, near the top; the history line in blue; the stacked bars below it
        assert pixels_near(image, report.HEALTH_COLOURS["warning"], (0, 0, WIDTH, 320)) > 400
        assert pixels_near(image, report.HEALTH_COLOURS["healthy"], (0, 0, WIDTH, 320)) == 0
        assert pixels_near(image, LINE, (0, 320, WIDTH, 900)) > 500
        linked_bars = report.OUTCOME_PALETTES["linked"][0]
        assert pixels_near(image, linked_bars, (0, 800, WIDTH, 1700)) > 2000


@pytest.mark.dbt
@needs_chromium
@pytest.mark.parametrize("width", [WIDTH, NARROW])
@pytest.mark.parametrize("variant", ["redacted", "with_pii"])
def test_no_text_leaves_its_box(pages, tmp_path, variant, width):
    verdict = layout_problems(pages[variant], tmp_path / "profile", width)
    assert verdict["checked"] > 250  # every label, figure, cell and term was measured
    assert verdict["problems"] == []
    assert verdict["scrollWidth"] <= verdict["pageWidth"]  # nothing wider than the page


@needs_chromium
def test_the_layout_check_catches_the_old_clipped_axis_label(tmp_path):
    page = tmp_path / "clipped.html"
    shutil.copyfile(CLIPPED_CHART, page)
    verdict = layout_problems(page, tmp_path / "profile", WIDTH)
    clipped = {(p["text"], p["box"]) for p in verdict["problems"]}
    assert ("Dec 01 15:42", "svg#chart-inconsistency") in clipped
    assert ("Dec 01 15:42", "svg#chart-inconsistency view box") in clipped
    assert len(clipped) == 2  # the other labels fit


@needs_chromium
@pytest.mark.parametrize("width", [WIDTH, NARROW])
def test_chart_labels_stay_inside_whatever_the_time_span_and_values(tmp_path, width):
    start = datetime(2025, 12, 1, 15, 10, 37, tzinfo=UTC)
    spans = [timedelta(0), timedelta(seconds=40), timedelta(minutes=32), timedelta(hours=30),
             timedelta(days=3), timedelta(days=20), timedelta(days=90), timedelta(days=800)]  # fmt: skip
    charts = [
        line_chart(f"line-{k}", "span", [(start, 1234567.5), (start + span, 3.25)], threshold=1.0,
                   threshold_label="critical above 1%", unit="%")
        for k, span in enumerate(spans)
    ]  # fmt: skip
    for days in (1, 7, 10, 11, 31, 90):
        first = date(2025, 9, 1)
        series = [Series("linked", "#1a7f37", [float(10**k % 997 * 1000) for k in range(days)])]
        charts.append(stacked_bar_chart(f"bars-{days}", "days", [first + timedelta(k) for k in range(days)], series))
    page = tmp_path / "charts.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{report.CSS}</style></head><body>'
        + "".join(f"<section>{chart}</section>" for chart in charts)
        + "</body></html>"
    )
    verdict = layout_problems(page, tmp_path / "profile", width)
    assert verdict["checked"] > 100
    assert verdict["problems"] == []


@pytest.mark.dbt
def test_phones_and_names_are_redacted_unless_show_pii(reported_world, pages):
    with psycopg.connect(reported_world.conninfo()) as db:
        phones = {
            phone
            for (raw, normalized) in db.execute(
                "select phone, normalize_phone(phone) from event_guests "
                "union select phone, normalize_phone(phone) from users"
            )
            for phone in (raw, normalized)
            if phone and sum(c.isdigit() for c in phone) >= 7
        }
        shared = [
            row[0]
            for row in db.execute(f"select normalized_phone from {report.marts_schema()}.ambiguous_phone_groups")
        ]
    assert len(phones) > 100 and shared

    redacted, with_pii = (pages[k].read_text() for k in ("redacted", "with_pii"))
    assert [phone for phone in phones if phone in redacted] == []
    assert GUEST_NAME not in redacted
    assert report.redact_phone(shared[0]) in redacted  # the row is still there, its number masked
    assert "--show-pii" in redacted

    assert GUEST_NAME in with_pii and all(phone in with_pii for phone in shared)
    assert "do not share it further" in with_pii


def test_a_redacted_phone_keeps_only_its_last_two_digits():
    assert report.redact_phone("+15550001234") == "+•••••••••34"
    assert report.redact_phone("(555) 000-1234") == "(•••) •••-••34"
    assert report.redact_phone(None) == "–"


@pytest.mark.dbt
def test_every_term_is_glossed_once_and_every_glossed_term_is_used(pages):
    dom = Elements()
    dom.feed(pages["redacted"].read_text())
    entries = [a["id"] for a in dom.find("dt")]
    assert len(entries) == len(set(entries))  # once
    links = {a["href"].removeprefix("#") for a in dom.find("a") if a.get("href", "").startswith("#")}
    assert links == set(entries)  # every link has its entry, every entry is linked from the page
    for key in ["linkable_null", "both_null", "consistent", "conflicting", "inconsistency", "healthy",
                "warning", "critical", "success_rate", "reason_historical_guest_record", "outcome_no_match",
                "kind_guest_link", "delivery_before_guest_link"]:  # fmt: skip
        assert glossary.anchor(key) in entries
    assert glossary.UNKNOWN not in pages["redacted"].read_text()  # every value of this world is known


def test_missing_models_name_dbt_run(app_db, tmp_path):
    with pytest.raises(report.ReportError, match="dbt run"):
        report.write_report(app_db, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()
