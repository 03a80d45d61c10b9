"""`linkage report`: one self-contained HTML page, rendered in headless Chromium with the network off and
checked on screen: charts and figures drawn, nothing requested from anywhere, no text outside its box
(tests/report_layout_check.js), the badge is the check's verdict and the check made now is the last point
of the history, every tile that can be good or bad carries its rule and colour, the delivery categories
add up to the total, each data test's recent runs are shown, phones, names and event titles redacted
unless --show-pii, every term glossed once."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

from delivery_linkage import report
from delivery_linkage.database import dbt_runner
from delivery_linkage.operations import backfill
from delivery_linkage.operations import check as integrity
from delivery_linkage.report import glossary
from delivery_linkage.report.charts import LINE, Series, line_chart, stacked_bar_chart
from delivery_linkage_devtools import synthetic, traffic
from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing import world as w
from delivery_linkage_devtools.testing.databases import clone
from offline_browser import CHROMIUM, dump_dom, layout_problems, open_page

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium missing: apt-get install -y chromium (Debian package)"
)
WIDTH, HEIGHT = 1280, 2400
NARROW = 500  # headless Chromium's narrowest window: a phone-sized page
CLIPPED_CHART = Path(__file__).parent / "fixtures" / "report_clipped_axis_label.html"
GUEST_NAME, GUEST_PHONE = "Ada Lovelace", "+15550001234"  # the linkable-but-NULL guest the world adds
EVENT_TITLE = "Lovelace Garden Party"  # her event


def dbt_run(settings) -> None:
    dbt_runner.run_dbt(["run"], settings, target_path="target/pytest_report").check()


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside elements with an id."""

    VOID = ("rect", "circle", "line", "polyline", "polygon", "path", "meta", "br", "img", "use")

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in self.VOID:
            self._open.append(attributes.get("id"))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data):
        for element_id in self._open:
            if element_id:
                self.text_by_id[element_id] = self.text_by_id.get(element_id, "") + data

    def find(self, tag: str, **attributes) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attributes.items())]


def parsed(html: str) -> Elements:
    dom = Elements()
    dom.feed(html)
    return dom


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


def record_test_runs(db, schema: str) -> None:
    """Three `dbt test` invocations in the store the on-run-end hook fills (dbt_node_results): one test
    passes, then warns, then passes again; another always passes (tests/test_dbt_history.py proves the
    hook writes these rows; here only their shape matters)."""
    base = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    runs = [("pass", 0, 0.11), ("warn", 4, 0.31), ("pass", 0, 0.12)]
    for k, (status, failures, seconds) in enumerate(runs):
        started = base + timedelta(days=k)
        for name, node, test_status, test_failures in [
            ("assert_no_linkable_null_deliveries", "model.delivery_linkage.linkable_null_deliveries", status, failures),
            ("unique_delivery_integrity_check_timestamp", "model.delivery_linkage.delivery_integrity", "pass", 0),
        ]:
            db.execute(
                f"insert into {schema}.dbt_node_results (node_result_key, invocation_id, command, "
                "invocation_started_at, node_unique_id, resource_type, node_name, status, failures, "
                "execution_seconds, completed_at, test_severity, tested_node) values "
                "(%s, %s, 'test', %s, %s, 'test', %s, %s, %s, %s, %s, 'warn', %s)",
                (f"inv{k}|test.{name}", f"inv{k}", started, f"test.delivery_linkage.{name}", name, test_status,
                 test_failures, seconds, started + timedelta(seconds=seconds), node),
            )  # fmt: skip


@pytest.fixture(scope="module")
def reported_world(server, template_database):
    """Two checks two days apart, critical then warning: the synthetic history (shared phones among
    them), backfilled, live traffic over three days of audit rows, three runs of the data tests, and one
    guest, named, of a named event, who signed up after an announcement reached her: linkable but NULL."""
    with clone(server, template_database) as settings:
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
            db.execute("update events set title = %s where id = %s", (EVENT_TITLE, event))
            message = w.message(db, event)
            db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
            guest = w.guest(db, event, None, GUEST_PHONE, name=GUEST_NAME)
            w.deliver(db, message, guest, GUEST_PHONE)
            db.execute(
                "update event_guests set user_id = %s, updated_at = clock_timestamp() where id = %s",
                (w.user(db, GUEST_PHONE), guest),
            )
            db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
            # second check, warning: what the next dbt build appends (counting the categories too)
            result = dbt_runner.run_dbt(
                ["run", "--vars", "{linkage_deploy: false}", "--select", "delivery_integrity_history"],
                settings,
                target_path="target/pytest_report",
            )
            result.check()
            record_test_runs(db, schema)
        yield settings


@pytest.fixture(scope="module")
def pages(reported_world, tmp_path_factory):
    """The report as written by default (PII redacted) and with show_pii."""
    folder = tmp_path_factory.mktemp("report")
    return {
        "redacted": report.write_report(reported_world, folder / "report.html"),
        "with_pii": report.write_report(reported_world, folder / "report-pii.html", show_pii=True),
    }


@pytest.mark.dbt
@needs_chromium
def test_the_report_renders_offline_and_requests_nothing(reported_world, pages, tmp_path):
    page = pages["redacted"]
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page must be self-contained"
    assert "<script" not in html and "@import" not in html and "url(http" not in html

    dumped, requested = dump_dom(page, tmp_path / "profile")
    assert requested == []  # with the network off, and not even tried
    dom = parsed(dumped)
    charts = {a["id"] for a in dom.find("svg") if a.get("class") == "chart"}
    assert charts == {"chart-inconsistency", "chart-attempts", "chart-backfill"}
    points = re.search(r'<g id="chart-inconsistency-points">(.*?)\n   </g>', dumped, re.S)
    assert points and len(re.findall(r"<use ", points.group(1))) == 3  # two dbt runs, then the check now
    assert "chart-inconsistency-threshold" in dumped and "chart-inconsistency-series" in dumped
    assert len(re.findall(r'<g id="chart-attempts-bar-', dumped)) >= 6  # several days × outcomes
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
        "integrity", "history", "tests", "attempts", "backfill", "ambiguous", "conflicts", "linkable-null", "terms",
    ]  # fmt: skip
    assert "bench" not in html.lower()  # developer material: not in the data team's report

    from PIL import Image

    shot = tmp_path / "report.png"
    open_page(page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    with Image.open(shot) as image:
        image = image.convert("RGB")
        assert image.size == (WIDTH, HEIGHT)
        colours = image.getcolors(maxcolors=1 << 24)
        white = sum(count for count, pixel in colours if min(pixel) >= 250)
        assert len(colours) > 200 and white < 0.95 * WIDTH * HEIGHT, "the screenshot is blank"
        # the health badge, amber, near the top; the history line in blue below the figures
        assert pixels_near(image, report.HEALTH_COLOURS["warning"], (0, 0, WIDTH, 320)) > 400
        assert pixels_near(image, LINE, (0, 600, WIDTH, HEIGHT)) > 500


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
             timedelta(days=3), timedelta(days=90), timedelta(days=800)]  # fmt: skip
    charts = [
        line_chart(f"line-{k}", "span", [(start, 1234567.5), (start + span, 3.25)], threshold=1.0,
                   threshold_label="critical above 1%", unit="%")
        for k, span in enumerate(spans)
    ]  # fmt: skip
    for days in (1, 7, 31, 90):
        first = date(2025, 9, 1)
        series = [Series("linked", "#1a7f37", [float(10**k % 997 * 1000) for k in range(days)])]
        charts.append(stacked_bar_chart(f"bars-{days}", "days", [first + timedelta(k) for k in range(days)], series))
    page = tmp_path / "charts.html"
    css = (report.TEMPLATES_DIR / "report.css").read_text()
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{css}</style></head><body>'
        + "".join(f"<section>{chart}</section>" for chart in charts)
        + "</body></html>"
    )
    verdict = layout_problems(page, tmp_path / "profile", width)
    assert verdict["checked"] > 80
    assert verdict["problems"] == []


@pytest.mark.dbt
def test_phones_names_and_event_titles_are_redacted_unless_show_pii(reported_world, pages):
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
    assert GUEST_NAME not in redacted and EVENT_TITLE not in redacted
    assert report.redact_phone(shared[0]) in redacted  # the row is still there, its number masked
    assert report.redact_name(GUEST_NAME) in redacted and report.redact_name(EVENT_TITLE) in redacted
    assert "--show-pii" in redacted

    assert GUEST_NAME in with_pii and EVENT_TITLE in with_pii and all(phone in with_pii for phone in shared)
    assert "do not share it further" in with_pii
    # events are named by their titles, never by their ids
    dom = parsed(with_pii)
    assert EVENT_TITLE in dom.text_by_id["linkable-null-table"]
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", dom.text_by_id["ambiguous-table"])


def test_redaction_keeps_the_last_two_digits_of_a_phone_and_the_initials_of_a_name():
    assert report.redact_phone("+15550001234") == "+•••••••••34"
    assert report.redact_phone("(555) 000-1234") == "(•••) •••-••34"
    assert report.redact_phone(None) == "–"
    assert report.redact_name("Ada Lovelace") == "A•• L•••••••"
    assert report.redact_name("Smith-Jones Wedding 2026") == "S••••-J•••• W•••••• 2•••"
    assert report.redact_name(None) == "–"


@pytest.mark.dbt
def test_every_term_is_glossed_once_and_every_glossed_term_is_used(pages):
    dom = parsed(pages["redacted"].read_text())
    entries = [a["id"] for a in dom.find("dt")]
    assert len(entries) == len(set(entries))  # once
    links = {a["href"].removeprefix("#") for a in dom.find("a") if a.get("href", "").startswith("#")}
    assert links == set(entries)  # every link has its entry, every entry is linked from the page
    for key in ["category", "category_linkable_null", "category_null_guest_removed", "inconsistency", "healthy",
                "warning", "critical", "success_rate", "runbook_figure", "test_history", "test_warn",
                "reason_historical_guest_record", "outcome_no_match", "kind_guest_link",
                "delivery_before_guest_link"]:  # fmt: skip
        assert glossary.anchor(key) in entries
    assert glossary.UNKNOWN not in pages["redacted"].read_text()  # every value of this world is known


@pytest.mark.dbt
def test_every_tile_that_can_be_good_or_bad_shows_its_rule_and_colour(reported_world, pages):
    html = pages["redacted"].read_text()
    tiles = re.findall(
        r'<div class="figure" style="border-top-color:(#[0-9a-f]{6})">.*?<div class="label">(.*?)</div>'
        r'<div class="rule">(.*?)</div>',
        html,
        re.S,
    )
    assert len(tiles) >= 5
    judged = {
        re.sub(r"<[^>]+>", "", label): (colour, rule) for colour, label, rule in tiles if "informational" not in rule
    }
    informational = [(colour, rule) for colour, _, rule in tiles if "informational" in rule]
    # the defects (warning: one linkable-but-NULL delivery), their share (below critical) and the problems
    assert judged["linkable but NULL (defects)"] == (report.HEALTH_COLOURS["warning"], "healthy at 0, a warning above")
    assert judged["inconsistency"][0] == report.HEALTH_COLOURS["warning"]
    assert "critical above 1%" in judged["inconsistency"][1]
    assert judged["problems"][0] == report.HEALTH_COLOURS["healthy"]
    # the success rate is not good or bad by itself: said so, in the neutral colour
    assert any("no threshold" in rule for _, rule in informational)
    assert {colour for colour, _ in informational} == {report.NEUTRAL}


@pytest.mark.dbt
def test_the_categories_on_the_page_add_up_to_the_total(reported_world, pages):
    dom = parsed(pages["redacted"].read_text())
    table = re.search(r'<table id="categories-table">(.*?)</table>', pages["redacted"].read_text(), re.S).group(1)
    counts = [int(n.replace(",", "")) for n in re.findall(r'<td class="number"[^>]*>([\d,]+)</td>', table)]
    with psycopg.connect(reported_world.conninfo()) as db:
        check = integrity.check(db)
    assert len(counts) == len(check.categories) == 9
    # counted by the last dbt build; nothing was written since, so they add up to the total now too
    assert check.categories_total_deliveries == check.total_deliveries
    assert sum(counts) == check.total_deliveries == int(dom.text_by_id["categories-total"].replace(",", ""))


@pytest.mark.dbt
def test_the_test_history_screen_shows_each_tests_runs_changes_and_durations(pages):
    html = pages["redacted"].read_text()
    table = re.search(r'<table id="tests-table".*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr><td><code class=\"id\">(\w+)</code></td>(.*?)</tr>", table, re.S)
    by_name = dict(rows)
    flapping = by_name["assert_no_linkable_null_deliveries"]
    assert len(re.findall(r'<span class="run"', flapping)) == 3
    assert re.search(r'<td class="number">2</td>', flapping)  # pass → warn → pass: two changes
    assert "warn → pass" in flapping and "2026-11-22" in flapping
    assert "0.12 · 0.12" in flapping  # the last run's seconds and the median
    assert "(4 rows)" in flapping  # the warning's failing rows, in its run's tooltip
    steady = by_name["unique_delivery_integrity_check_timestamp"]
    assert re.search(r'<td class="number">0</td>', steady) and "<td>–</td>" in steady


@pytest.mark.dbt
def test_the_badge_is_the_checks_verdict_and_the_check_made_now_is_the_last_point(modeled_app_db, modeled_db, tmp_path):
    """After the last `dbt run` the database turned critical: the badge, the history's last point and its
    caption all say what `linkage check` says now."""
    runbook_world.build(modeled_db, 71, 3)  # 4.23 %: critical, and no dbt run since
    written = report.write_report(modeled_app_db, tmp_path / "report.html")
    html = written.read_text()
    dom = parsed(html)
    now = integrity.check(modeled_db)
    assert now.status == "critical"
    assert dom.text_by_id["health-badge"].strip() == now.status
    history = dom.text_by_id["history"]
    assert "now 4.23% (critical)" in " ".join(history.split())
    points = re.search(r'<g id="chart-inconsistency-points">(.*?)\n   </g>', html, re.S).group(1)
    titles = re.findall(r"<title>(.*?)</title>", points)
    assert titles[-1].endswith("4.23% (now, critical)")
    assert all("now" not in title for title in titles[:-1])


def test_missing_models_name_dbt_run(app_db, tmp_path):
    with pytest.raises(report.ReportError, match="dbt run"):
        report.write_report(app_db, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()
