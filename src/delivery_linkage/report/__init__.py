"""`linkage report --out FILE.html`: one self-contained page for the data team (CSS inlined, SVG charts,
no script, no external reference) built from the metric models: the verdict and the delivery
categories now (the check `linkage check` makes, the same row), inconsistency over time with the check
made now as its last point, the data tests' recent runs, link attempts and backfill activity per day,
ambiguous phone groups, conflicts, the deliveries that are linkable but NULL, and the meaning of every
term the page uses.

HTML from Jinja2 templates (autoescaped; templates/report.html.j2 and report.css), charts from
matplotlib (report/charts.py). Made to be shared: guests' phone numbers and names and events' titles
are redacted unless `show_pii` (`--show-pii`). The models are read from schema DBT_SCHEMA (default
linkage), where `dbt run` builds them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from markupsafe import Markup

from delivery_linkage.database.connection import ConnectionSettings, connect
from delivery_linkage.database.schemas import marts_schema, private_schema
from delivery_linkage.database.schemas import quote_identifier as _quote
from delivery_linkage.operations import check as integrity_check
from delivery_linkage.report import glossary
from delivery_linkage.report.charts import Series, legend, line_chart, stacked_bar_chart

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
REQUIRED_MODELS = (
    "daily_integrity_check",
    "delivery_categories",
    "delivery_integrity_history",
    "link_attempts_daily",
    "backfill_activity_daily",
    "ambiguous_phone_groups",
    "delivery_link_conflicts",
    "linkable_null_deliveries",
)
TABLE_ROWS = 50  # rows shown per table; the total is always shown
TEST_RUNS = 10  # runs shown per data test
HEALTH_COLOURS = {"healthy": "#1a7f37", "warning": "#bf8700", "critical": "#cf222e"}
NEUTRAL = "#6e7781"
TEST_STATUS_COLOURS = {
    "pass": "#1a7f37", "success": "#1a7f37", "warn": "#bf8700", "fail": "#cf222e", "error": "#82071e",
    "skipped": "#afb8c1",
}  # fmt: skip
OUTCOME_PALETTES = {
    "linked": ["#1a7f37", "#2da44e", "#4ac26b", "#6fdd8b", "#116329", "#aceebb", "#044f1e"],
    "no_match": ["#bc4c00", "#fb8f44", "#cf222e", "#ff8182", "#953800", "#ffb77c", "#a40e26", "#fd8c73"],
    "skipped": ["#6e7781", "#afb8c1"],
    "unlinked": ["#8250df", "#c297ff"],
}
BACKFILL_COLOURS = {"guest_link": "#0969da", "historical": "#8250df", "manual": "#bf8700", "other": "#6e7781"}
MASK = "\u2022"  # a bullet stands for each hidden digit or letter


class ReportError(RuntimeError):
    """The report could not be built; the message names the cause and the fix."""


# --- data --------------------------------------------------------------------------------------------


@dataclass
class ReportData:
    generated_at: datetime
    database: str
    schema: str
    check: integrity_check.IntegrityReport  # the check made now: what `linkage check` would say
    history: list[dict]  # the recorded checks, then this one (is_now)
    attempts: list[dict]
    backfills: list[dict]
    ambiguous: list[dict]
    ambiguous_total: int
    conflicts: list[dict]
    linkable_null: list[dict]
    test_runs: list[dict]
    vocabulary: list[dict]  # audit_vocabulary(): the audit's table names, outcomes and reasons, meant


def load(settings: ConnectionSettings, days: int = 90) -> ReportData:
    """Reads the marts (ReportError naming `dbt run` when they are missing)."""
    with connect(settings) as conn:
        return read(conn, settings.describe(), days)


def read(conn, database: str, days: int = 90) -> ReportData:
    """The report's data through an open connection (in the caller's transaction, if one is open)."""
    import psycopg.rows

    schema = marts_schema()
    missing = [
        name
        for name in REQUIRED_MODELS
        if conn.execute("select to_regclass(%s)", (f"{_quote(schema)}.{_quote(name)}",)).fetchone()[0]
        is None
    ]
    if missing:
        raise ReportError(
            f"{database} lacks the metric models "
            f"{', '.join(schema + '.' + m for m in missing)}\n"
            f"  fix: run `dbt run` (it builds them in schema DBT_SCHEMA, here {schema!r})"
        )
    try:
        check = integrity_check.check(conn, schema=schema)
    except integrity_check.ModelsNotBuiltError as error:
        raise ReportError(str(error)) from None
    s = _quote(schema)

    def rows(query: str, *params) -> list[dict]:
        with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute(query, params).fetchall()

    def first_rows(model: str, order_by: str) -> list[dict]:
        """The first TABLE_ROWS rows of a model, for a table of the report."""
        return rows(f"select * from {s}.{model} order by {order_by} limit %s", TABLE_ROWS)

    history = rows(
        "select check_timestamp, inconsistency_percentage, health_status, inconsistent_deliveries, "
        f"total_deliveries from (select * from {s}.delivery_integrity_history "
        "order by check_timestamp desc limit 999) as latest order by check_timestamp"
    )
    window = "(select max(activity_date) - %s::integer + 1 from {})"  # the last `days` days with data
    attempts = rows(
        "select activity_date, table_name, outcome, reason, attempts, linked "
        f"from {s}.link_attempts_daily "
        f"where activity_date >= {window.format(f'{s}.link_attempts_daily')}",
        days,
    )
    backfills = rows(
        f"select * from {s}.backfill_activity_daily "
        f"where activity_date >= {window.format(f'{s}.backfill_activity_daily')} order by activity_date",
        days,
    )
    ambiguous_total = rows(f"select count(*) as n from {s}.ambiguous_phone_groups")[0]["n"]
    ambiguous = first_rows("ambiguous_phone_groups", "member_count desc, group_type, normalized_phone")
    # listing them reads every delivery: only when the last dbt build counted some
    counted_conflicts = next(
        (c.deliveries for c in check.categories if c.name == "linked_to_other_user" and c.deliveries), 0
    )
    newest_first = "delivery_created_at desc nulls last"
    conflicts = first_rows("delivery_link_conflicts", newest_first) if counted_conflicts else []
    linkable_null = first_rows("linkable_null_deliveries", newest_first)
    test_runs = []
    if conn.execute("select to_regclass(%s)", (f"{s}.test_result_history",)).fetchone()[0]:
        test_runs = rows(
            "select test_unique_id, test_name, tested_node, column_name, test_severity, status, failures, "
            "execution_seconds, invocation_started_at, completed_at, is_status_change, previous_status "
            f"from (select *, row_number() over (partition by test_unique_id order by invocation_started_at "
            f"desc, completed_at desc) as recency from {s}.test_result_history where test_kind = 'data') as runs "
            "where recency <= %s order by test_unique_id, invocation_started_at, completed_at",
            TEST_RUNS,
        )
    vocabulary = []
    if conn.execute("select to_regprocedure(%s)", (f"{_quote(private_schema())}.audit_vocabulary()",)).fetchone()[0]:
        vocabulary = rows(
            f"select kind, value, table_name, meaning from {_quote(private_schema())}.audit_vocabulary() "
            "order by kind, value, table_name nulls first"
        )
    now = {
        "check_timestamp": check.check_timestamp,
        "inconsistency_percentage": check.inconsistency_percentage,
        "health_status": check.health_status,
        "inconsistent_deliveries": check.inconsistent_deliveries,
        "total_deliveries": check.total_deliveries,
        "is_now": True,
    }
    return ReportData(
        generated_at=datetime.now(UTC),
        database=database,
        schema=schema,
        check=check,
        history=[row | {"is_now": False} for row in history] + [now],
        attempts=attempts,
        backfills=backfills,
        ambiguous=ambiguous,
        ambiguous_total=ambiguous_total,
        conflicts=conflicts,
        linkable_null=linkable_null,
        test_runs=test_runs,
        vocabulary=vocabulary,
    )


# --- personal data ----------------------------------------------------------------------------------


def redact_phone(phone: str | None) -> str:
    """Every digit but the last two hidden (`+15551234567` gives `+•••••••••67`): rows stay told apart,
    the number cannot be read back."""
    if not phone:
        return "–"
    digits = sum(c.isdigit() for c in phone)
    shown, kept = [], 0
    for c in phone:
        if c.isdigit():
            kept += 1
            shown.append(c if kept > digits - 2 else MASK)
        else:
            shown.append(c)
    return "".join(shown)


def redact_name(name: str | None) -> str:
    """Each word's first letter kept, every other letter or digit hidden (`Ada Lovelace` gives
    `A•• L•••••••`): the way people refer to it is recognisable to those who know it, unreadable to others."""
    if not name:
        return "–"
    shown, first = [], True
    for c in name:
        if c.isalnum():
            shown.append(c if first else MASK)
            first = False
        else:
            shown.append(c)
            first = c.isspace() or c in "-'&/"
    return "".join(shown)


# --- page --------------------------------------------------------------------------------------------


def write_report(settings: ConnectionSettings, out: Path, days: int = 90, show_pii: bool = False) -> Path:
    """Writes the report to `out` (its folder must exist) and returns its absolute path."""
    out = Path(out).resolve()
    if not out.parent.is_dir():
        raise ReportError(f"the folder {out.parent} does not exist\n  fix: create it, or write the report elsewhere")
    data = load(settings, days=days)
    out.write_text(render(data, show_pii=show_pii), encoding="utf-8")
    return out


def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = _n
    return env


def render(data: ReportData, show_pii: bool = False) -> str:
    check = data.check
    terms = glossary.Glossary(critical_pct=check.critical_pct)
    for category in check.categories:
        terms.define(f"category_{category.name}", category.name, category.description)
    meanings: dict[str, list[dict]] = {}
    for entry in data.vocabulary:
        meanings.setdefault(f"{glossary.VOCABULARY_PREFIX[entry['kind']]}_{entry['value']}", []).append(entry)
    for key, entries in meanings.items():
        prefix = key.partition("_")[0]
        meaning = (
            entries[0]["meaning"]
            if len(entries) == 1
            else "; ".join(f"{e['meaning']} (in {e['table_name']})" for e in entries)
        )
        terms.define(key, entries[0]["value"], meaning, label=glossary.VOCABULARY_LABELS[prefix])
    env = environment()
    page = env.get_template("report.html.j2")
    return page.render(
        data=data,
        check=check,
        terms=terms,
        show_pii=show_pii,
        css=Markup((TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")),
        colours=HEALTH_COLOURS,
        neutral=NEUTRAL,
        tiles=_tiles(check, terms),
        categories=_categories(check),
        history=_history(data, terms),
        tests=_tests(data),
        test_runs=TEST_RUNS,
        attempts=_attempts(data),
        backfills=_backfills(data),
        name=(lambda value: value or "–") if show_pii else redact_name,
        phone=(lambda value: value or "–") if show_pii else redact_phone,
    )


def _n(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal | float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return str(value)


@dataclass
class Tile:
    """A figure on the page: its value, what it is, and — when it can be good or bad — the rule that
    judges it (`rule`) and the colour that judgement gives; else `rule` says it is informational."""

    label: Markup
    value: str
    rule: str
    colour: str  # a HEALTH_COLOURS value, or NEUTRAL


def _tiles(check, terms) -> list[Tile]:
    level = HEALTH_COLOURS[check.health_status]
    rate = "n/a" if check.success_rate_24h is None else f"{float(check.success_rate_24h) * 100:.2f}%"
    return [
        Tile(
            terms.use("category_linkable_null", "linkable but NULL (defects)"),
            _n(check.inconsistent_deliveries),
            "healthy at 0, a warning above",
            HEALTH_COLOURS["healthy"] if check.inconsistent_deliveries == 0 else level,
        ),
        Tile(
            terms.use("inconsistency"),
            f"{check.inconsistency_percentage}%",
            f"critical above {check.critical_pct:g}% (dbt var linkage_critical_pct)",
            level,
        ),
        Tile(
            terms.use("problem", "problems"),
            _n(len(check.problems)),
            "healthy at 0, a warning above",
            HEALTH_COLOURS["healthy"] if not check.problems else HEALTH_COLOURS["warning"],
        ),
        Tile(terms.use("delivery", "total deliveries"), _n(check.total_deliveries), "informational", NEUTRAL),
        Tile(
            terms.use("success_rate", "trigger success rate, 24 h"),
            rate,
            f"informational, no threshold ({_n(check.attempts_24h)} attempts)",
            NEUTRAL,
        ),
        Tile(
            terms.use("backfill", "backfill links, 24 h"),
            _n(check.backfill_links_24h),
            f"informational ({_n(check.backfilled_guests_24h)} guests)",
            NEUTRAL,
        ),
    ]


def _categories(check) -> list[dict]:
    total = check.categories_total_deliveries
    return [
        {
            "category": category,
            "share": 100 * (category.deliveries or 0) / total if total else 0.0,
            "colour": (HEALTH_COLOURS["healthy"] if not category.deliveries else HEALTH_COLOURS[check.health_status])
            if category.is_defect
            else NEUTRAL,
        }
        for category in check.categories
    ]


def _history(data: ReportData, terms) -> dict:
    points = [(row["check_timestamp"], float(row["inconsistency_percentage"])) for row in data.history]
    threshold = data.check.critical_pct
    colours = [HEALTH_COLOURS.get(row["health_status"], NEUTRAL) for row in data.history]
    notes = [("now, " if row["is_now"] else "") + (row["health_status"] or "") for row in data.history]
    chart = line_chart(
        "chart-inconsistency",
        "Inconsistency percentage per check; the last point is this report's check",
        points,
        threshold=threshold,
        threshold_label=f"critical above {threshold:g}%",
        unit="%",
        point_colours=colours,
        point_notes=notes,
    )
    return {
        "chart": Markup(chart),
        "recorded": len(data.history) - 1,
        "first": data.history[0],
        "now": data.history[-1],
    }


def _tests(data: ReportData) -> list[dict]:
    """Each data test's recent runs, oldest first, with its status changes and durations; failing first."""
    by_test: dict[str, list[dict]] = defaultdict(list)
    for run in data.test_runs:
        by_test[run["test_unique_id"]].append(run)
    rank = {"error": 0, "fail": 1, "warn": 2, "skipped": 3, "pass": 4}
    # the tests of the latest invocation that ran data tests are the project's current ones; a test seen
    # only before it (removed, renamed, or not selected since) is listed after them
    latest_invocation = max((run["invocation_started_at"] for run in data.test_runs), default=None)
    tests = []
    for runs in by_test.values():
        latest = runs[-1]
        changes = [run for run in runs if run["is_status_change"]]
        durations = [run["execution_seconds"] for run in runs if run["execution_seconds"] is not None]
        tested = (latest["tested_node"] or "").rsplit(".", 1)[-1]
        tests.append(
            {
                "name": latest["test_name"],
                "tested": tested + (f".{latest['column_name']}" if latest["column_name"] else ""),
                "severity": latest["test_severity"] or "",
                "latest": latest,
                "runs": [run | {"colour": TEST_STATUS_COLOURS.get(run["status"], NEUTRAL)} for run in runs],
                "changes": len(changes),
                "last_change": changes[-1] if changes else None,
                "median_seconds": statistics.median(durations) if durations else None,
                "last_seconds": latest["execution_seconds"],
                "current": latest["invocation_started_at"] == latest_invocation,
            }
        )
    return sorted(tests, key=lambda t: (not t["current"], rank.get(t["latest"]["status"], 5), -t["changes"], t["name"]))


def _day_range(rows: list[dict]) -> list[date]:
    if not rows:
        return []
    first, last = min(r["activity_date"] for r in rows), max(r["activity_date"] for r in rows)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _attempts(data: ReportData) -> dict | None:
    days = _day_range(data.attempts)
    if not days:
        return None
    index = {day: k for k, day in enumerate(days)}
    values: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * len(days))
    by_table: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in data.attempts:
        values[(row["outcome"], row["reason"])][index[row["activity_date"]]] += row["attempts"]
        by_table[(row["table_name"], row["outcome"], row["reason"])] += row["attempts"]
    order = list(OUTCOME_PALETTES)
    keys = sorted(values, key=lambda k: (order.index(k[0]) if k[0] in order else 9, -sum(values[k]), k[1]))
    used: dict[str, int] = defaultdict(int)
    series = []
    for outcome, reason in keys:
        palette = OUTCOME_PALETTES.get(outcome, ["#57606a", "#8c959f"])
        series.append(Series(f"{outcome} · {reason}", palette[used[outcome] % len(palette)], values[(outcome, reason)]))
        used[outcome] += 1
    chart = stacked_bar_chart("chart-attempts", "Link attempts per day by outcome and reason", days, series)
    rows = sorted(by_table.items(), key=lambda kv: (kv[0][0], -kv[1]))
    return {"chart": Markup(chart), "legend": Markup(legend(series)), "first": days[0], "last": days[-1], "rows": rows}


def _backfills(data: ReportData) -> dict | None:
    days = _day_range(data.backfills)
    if not days:
        return None
    index = {day: k for k, day in enumerate(days)}
    values: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for row in data.backfills:
        values[row["backfill_kind"]][index[row["activity_date"]]] += row["backfill_operations"]
    kinds = sorted(values, key=lambda k: list(BACKFILL_COLOURS).index(k) if k in BACKFILL_COLOURS else 9)
    series = [Series(kind, BACKFILL_COLOURS.get(kind, NEUTRAL), values[kind]) for kind in kinds]
    chart = stacked_bar_chart("chart-backfill", "Deliveries linked by backfills per day", days, series, height=240)
    rows = sorted(data.backfills, key=lambda r: (r["activity_date"], r["backfill_kind"]), reverse=True)[:TABLE_ROWS]
    return {"chart": Markup(chart), "legend": Markup(legend(series)), "rows": rows}
