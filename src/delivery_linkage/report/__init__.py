"""`linkage report --out FILE.html`: one self-contained page (inline CSS and SVG, no script, no
network) built from the metric models: integrity now, inconsistency over time, link attempts and
backfill activity per day, ambiguous phone groups, conflicts, and the latest benchmark figures when
bench/results/latest.json exists.

The models are read from schema DBT_SCHEMA (default linkage), where `dbt run` builds them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

from delivery_linkage import PROJECT_DIR
from delivery_linkage.database.connection import ConnectionSettings, connect
from delivery_linkage.report.svg import Series, legend, line_chart, stacked_bar_chart

BENCH_RESULTS = PROJECT_DIR / "bench" / "results" / "latest.json"
REQUIRED_MODELS = (
    "delivery_integrity",
    "delivery_integrity_history",
    "link_attempts_daily",
    "link_success_rate_24h",
    "backfill_activity_daily",
    "ambiguous_phone_groups",
    "delivery_link_conflicts",
    "linkable_null_deliveries",
)
TABLE_ROWS = 50  # rows shown per table; the total is always shown
HEALTH_COLOURS = {"healthy": "#1a7f37", "warning": "#bf8700", "critical": "#cf222e"}
OUTCOME_PALETTES = {
    "linked": ["#1a7f37", "#2da44e", "#4ac26b", "#6fdd8b", "#116329", "#aceebb", "#044f1e"],
    "no_match": ["#bc4c00", "#fb8f44", "#cf222e", "#ff8182", "#953800", "#ffb77c", "#a40e26", "#fd8c73"],
    "skipped": ["#6e7781", "#afb8c1"],
    "unlinked": ["#8250df", "#c297ff"],
}
BACKFILL_COLOURS = {"guest_link": "#0969da", "historical": "#8250df", "manual": "#bf8700", "other": "#6e7781"}


class ReportError(RuntimeError):
    """The report could not be built; the message names the cause and the fix."""


def marts_schema() -> str:
    return os.environ.get("DBT_SCHEMA", "linkage")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


# --- data --------------------------------------------------------------------------------------------


@dataclass
class ReportData:
    generated_at: datetime
    database: str
    schema: str
    integrity: dict
    success_24h: dict | None
    history: list[dict]
    attempts: list[dict]
    backfills: list[dict]
    ambiguous: list[dict]
    ambiguous_total: int
    conflicts: list[dict]
    linkable_null: list[dict]
    bench: dict | None


def load(settings: ConnectionSettings, bench_path: Path | None = BENCH_RESULTS, days: int = 90) -> ReportData:
    """Reads the marts (ReportError naming `dbt run` when they are missing)."""
    import psycopg.rows

    schema = marts_schema()
    with connect(settings) as conn:
        missing = [
            name
            for name in REQUIRED_MODELS
            if conn.execute("select to_regclass(%s)", (f"{_quote(schema)}.{_quote(name)}",)).fetchone()[0]
            is None
        ]
        if missing:
            raise ReportError(
                f"{settings.describe()} lacks the metric models "
                f"{', '.join(schema + '.' + m for m in missing)}\n"
                f"  fix: run `dbt run` (it builds them in schema DBT_SCHEMA, here {schema!r})"
            )
        conn.row_factory = psycopg.rows.dict_row
        s = _quote(schema)

        def rows(query: str, *params) -> list[dict]:
            return conn.execute(query, params).fetchall()

        integrity = rows(f"select * from {s}.delivery_integrity")
        if not integrity:
            raise ReportError(f"{schema}.delivery_integrity is empty\n  fix: run `dbt run`")
        success = rows(f"select * from {s}.link_success_rate_24h")
        history = rows(
            f"select * from (select * from {s}.delivery_integrity_history "
            "order by check_timestamp desc limit 1000) as latest order by check_timestamp"
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
        ambiguous = rows(
            f"select * from {s}.ambiguous_phone_groups "
            "order by member_count desc, group_type, normalized_phone limit %s",
            TABLE_ROWS,
        )
        conflicts = rows(
            f"select * from {s}.delivery_link_conflicts "
            "order by delivery_created_at desc nulls last limit %s",
            TABLE_ROWS,
        )
        linkable_null = rows(
            f"select * from {s}.linkable_null_deliveries "
            "order by delivery_created_at desc nulls last limit %s",
            TABLE_ROWS,
        )
    return ReportData(
        generated_at=datetime.now(UTC),
        database=settings.describe(),
        schema=schema,
        integrity=integrity[0],
        success_24h=success[0] if success else None,
        history=history,
        attempts=attempts,
        backfills=backfills,
        ambiguous=ambiguous,
        ambiguous_total=ambiguous_total,
        conflicts=conflicts,
        linkable_null=linkable_null,
        bench=read_bench(bench_path),
    )


def read_bench(path: Path | None) -> dict | None:
    """The latest benchmark results as {"source", "rows", "columns", "note", "meta"}; None when absent.

    The file's shape is not fixed: a list of workloads, a dict of workloads by name, or a dict with
    a "workloads"/"results"/"benchmarks" entry holding either (bench.py writes
    {"generated_at", "machine", "workloads": [{"key", "label", "summaries", "ratios", "target",
    "met", …}], "checks": [{"name", "passed"}], …}). Nested dicts are flattened one level (a.b); a
    dict with a "median" (a summary) gives its median. Columns: names first, then ratios, targets,
    medians, the rest (at most BENCH_COLUMNS). Anything unreadable gives a note instead of rows.
    """
    if path is None or not Path(path).exists():
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        return {
            "source": str(path),
            "rows": [],
            "columns": [],
            "note": f"could not read it: {error}",
            "meta": {},
        }
    meta: dict = {}
    workloads = data
    if isinstance(data, dict):
        for key in ("workloads", "results", "benchmarks"):
            if key in data:
                workloads = data[key]
                meta = _bench_meta(data, exclude=key)
                break
    if isinstance(workloads, dict):
        items = [{"workload": name} | value for name, value in workloads.items() if isinstance(value, dict)]
        if not items:  # a flat dict of figures: one workload
            items = [workloads]
        elif workloads is data:
            meta = _bench_meta(data)
    elif isinstance(workloads, list):
        items = [item if isinstance(item, dict) else {"value": item} for item in workloads]
    else:
        items = []
    rows = [_flatten(item) for item in items]
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    columns = sorted(columns, key=lambda c: (_column_rank(c), columns.index(c)))[:BENCH_COLUMNS]
    note = None if rows else "no workloads found in it"
    return {"source": str(path), "rows": rows, "columns": columns, "note": note, "meta": meta}


BENCH_COLUMNS = 10


def _bench_meta(data: dict, exclude: str | None = None) -> dict:
    meta = {k: v for k, v in data.items() if k != exclude and _is_scalar(v)}
    checks = data.get("checks")
    if isinstance(checks, list) and checks and all(isinstance(c, dict) and "passed" in c for c in checks):
        meta["checks passed"] = f"{sum(bool(c['passed']) for c in checks)} of {len(checks)}"
    return meta


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flatten(item: dict, prefix: str = "", depth: int = 0) -> dict:
    flat = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and _is_scalar(value.get("median", [])):
            flat[f"{name} median"] = value["median"]
        elif isinstance(value, dict) and depth < 1:
            flat.update(_flatten(value, name + ".", depth + 1))
        elif _is_scalar(value):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, default=str)[:80]
    return flat


def _column_rank(column: str) -> int:
    lowered = column.lower()
    if lowered in ("workload", "key", "label", "name", "id"):
        return 0
    if "ratio" in lowered:
        return 1
    if "target" in lowered or lowered == "met":
        return 2
    if "median" in lowered:
        return 3
    if lowered.startswith("extra.") or lowered.startswith("summaries."):
        return 5
    return 4


# --- page --------------------------------------------------------------------------------------------


def write_report(
    settings: ConnectionSettings, out: Path, bench_path: Path | None = BENCH_RESULTS, days: int = 90
) -> Path:
    """Writes the report to `out` (parents created) and returns its absolute path."""
    data = load(settings, bench_path=bench_path, days=days)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return out


def render(data: ReportData) -> str:
    sections = [
        _integrity_section(data),
        _history_section(data),
        _attempts_section(data),
        _backfill_section(data),
        _ambiguous_section(data),
        _conflicts_section(data),
        _linkable_null_section(data),
        _bench_section(data),
    ]
    status = data.integrity["health_status"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>delivery_linkage report: {escape(status)}</title><style>{CSS}</style></head>"
        f'<body data-health="{escape(status)}"><header><h1>delivery_linkage report</h1>'
        f'<p class="meta">{escape(data.database)} · models in schema <code>{escape(data.schema)}</code> · '
        f"generated {escape(data.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p></header>"
        + "".join(sections)
        + "</body></html>\n"
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


def _figure(label: str, value: str, cls: str = "") -> str:
    return (
        f'<div class="figure {cls}"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
    )


def _integrity_section(data: ReportData) -> str:
    i = data.integrity
    status = i["health_status"]
    rate = data.success_24h or {}
    success = "n/a" if rate.get("success_rate") is None else f"{float(rate['success_rate']) * 100:.2f}%"
    figures = "".join(
        [
            _figure("total deliveries", _n(i["total_deliveries"])),
            _figure(
                "inconsistent (linkable but NULL)",
                _n(i["inconsistent_deliveries"]),
                "bad" if i["inconsistent_deliveries"] else "",
            ),
            _figure(
                "inconsistency", f"{i['inconsistency_percentage']}%", "bad" if status == "critical" else ""
            ),
            _figure("consistent", _n(i["consistent_deliveries"])),
            _figure("both NULL", _n(i["both_null_deliveries"])),
            _figure(
                "conflicting", _n(i["conflicting_deliveries"]), "bad" if i["conflicting_deliveries"] else ""
            ),
            _figure(f"trigger success rate 24 h ({_n(rate.get('total_attempts', 0))} attempts)", success),
        ]
    )
    return (
        '<section id="integrity"><h2>Integrity now '
        f'<span id="health-badge" class="badge" style="background:{HEALTH_COLOURS.get(status, "#6e7781")}">'
        f"{escape(status)}</span></h2>"
        f'<p class="meta">checked {escape(_n(i["check_timestamp"]))} UTC; '
        f"critical above {escape(str(i['critical_pct']))}% "
        "(var linkage_critical_pct)</p>"
        f'<div class="figures">{figures}</div></section>'
    )


def _history_section(data: ReportData) -> str:
    points = [(row["check_timestamp"], float(row["inconsistency_percentage"])) for row in data.history]
    threshold = float(data.integrity["critical_pct"])
    if not points:
        body = (
            '<p class="empty">No history yet: every `dbt run` adds a row to delivery_integrity_history.</p>'
        )
    else:
        body = line_chart(
            "chart-inconsistency",
            "Inconsistency percentage per check",
            points,
            threshold=threshold,
            threshold_label=f"critical above {threshold:g}%",
            unit="%",
            point_colours=[HEALTH_COLOURS.get(row["health_status"], "#6e7781") for row in data.history],
        )
        latest = data.history[-1]
        body += (
            f'<p class="meta">{len(points)} checks from {escape(_n(data.history[0]["check_timestamp"]))} to '
            f"{escape(_n(latest['check_timestamp']))} UTC; "
            f"latest {escape(str(latest['inconsistency_percentage']))}% "
            f"({escape(latest['health_status'] or '')}).</p>"
        )
    return f'<section id="history"><h2>Inconsistency over time</h2>{body}</section>'


def _day_range(rows: list[dict]) -> list[date]:
    if not rows:
        return []
    first, last = min(r["activity_date"] for r in rows), max(r["activity_date"] for r in rows)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _attempts_section(data: ReportData) -> str:
    days = _day_range(data.attempts)
    if not days:
        return (
            '<section id="attempts"><h2>Link attempts per day</h2>'
            '<p class="empty">No audit rows yet (user_link_audit is empty).</p></section>'
        )
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
        series.append(
            Series(f"{outcome} · {reason}", palette[used[outcome] % len(palette)], values[(outcome, reason)])
        )
        used[outcome] += 1
    chart = stacked_bar_chart("chart-attempts", "Link attempts per day by outcome and reason", days, series)
    table_rows = [
        [table, outcome, reason, _n(count)]
        for (table, outcome, reason), count in sorted(by_table.items(), key=lambda kv: (kv[0][0], -kv[1]))
    ]
    return (
        '<section id="attempts"><h2>Link attempts per day, by outcome and reason</h2>'
        f"{chart}{legend(series)}"
        '<p class="meta">All audit rows (trigger attempts, backfill links, rollbacks), '
        f"{days[0]} to {days[-1]} (UTC days).</p>"
        + _table(["table_name", "outcome", "reason", "rows"], table_rows, "attempts-table")
        + "</section>"
    )


def _backfill_section(data: ReportData) -> str:
    days = _day_range(data.backfills)
    if not days:
        return (
            '<section id="backfill"><h2>Backfill activity</h2>'
            '<p class="empty">No backfill links yet.</p></section>'
        )
    index = {day: k for k, day in enumerate(days)}
    values: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for row in data.backfills:
        values[row["backfill_kind"]][index[row["activity_date"]]] += row["backfill_operations"]
    series = [
        Series(kind, BACKFILL_COLOURS.get(kind, "#6e7781"), values[kind])
        for kind in sorted(
            values, key=lambda k: list(BACKFILL_COLOURS).index(k) if k in BACKFILL_COLOURS else 9
        )
    ]
    chart = stacked_bar_chart(
        "chart-backfill", "Deliveries linked by backfills per day", days, series, height=240
    )
    rows = [
        [
            str(r["activity_date"]),
            r["backfill_kind"],
            _n(r["backfill_operations"]),
            _n(r["guests_backfilled"]),
            _n(r["first_at"]),
            _n(r["last_at"]),
        ]
        for r in sorted(data.backfills, key=lambda r: (r["activity_date"], r["backfill_kind"]), reverse=True)[
            :TABLE_ROWS
        ]
    ]
    return (
        '<section id="backfill"><h2>Backfill activity</h2>'
        f"{chart}{legend(series)}"
        + _table(["day", "kind", "deliveries linked", "guests", "first", "last"], rows, "backfill-table")
        + "</section>"
    )


def _ambiguous_section(data: ReportData) -> str:
    rows = [
        [r["group_type"], r["normalized_phone"], _n(r["event_id"]), _n(r["member_count"])]
        for r in data.ambiguous
    ]
    return (
        '<section id="ambiguous"><h2>Ambiguous phone groups '
        f'<span class="count">{_n(data.ambiguous_total)}</span></h2>'
        '<p class="meta">Phones the linkage will not decide on: active guests of one event sharing a phone '
        "(event_guests), users sharing a phone (users).</p>"
        + _table(["group", "phone", "event", "members"], rows, "ambiguous-table", data.ambiguous_total)
        + "</section>"
    )


def _conflicts_section(data: ReportData) -> str:
    total = data.integrity["conflicting_deliveries"]
    rows = [
        [
            _n(r["delivery_id"]),
            _n(r["guest_id"]),
            _n(r["delivery_user_id"]),
            _n(r["guest_user_id"]),
            _n(r["guest_is_active"]),
            _n(r["delivery_created_at"]),
        ]
        for r in data.conflicts
    ]
    return (
        f'<section id="conflicts"><h2>Conflicts <span class="count">{_n(total)}</span></h2>'
        '<p class="meta">Deliveries linked to a user other than their guest\'s current user.</p>'
        + _table(
            ["delivery", "guest", "delivery user", "guest user", "guest active", "created"],
            rows,
            "conflicts-table",
            total,
        )
        + "</section>"
    )


def _linkable_null_section(data: ReportData) -> str:
    total = data.integrity["inconsistent_deliveries"]
    rows = [
        [
            _n(r["delivery_id"]),
            r["guest_name"] or "",
            _n(r["guest_user_id"]),
            _n(r["delivery_created_at"]),
            _n(r["guest_updated_at"]),
            r["timing"],
        ]
        for r in data.linkable_null
    ]
    return (
        f'<section id="linkable-null"><h2>Linkable but NULL <span class="count">{_n(total)}</span></h2>'
        '<p class="meta">The defect: deliveries without a user whose guest is active and linked. '
        "The historical backfill (<code>linkage backfill</code>) links them.</p>"
        + _table(
            ["delivery", "guest", "guest user", "delivery created", "guest updated", "timing"],
            rows,
            "linkable-null-table",
            total,
        )
        + "</section>"
    )


def _bench_section(data: ReportData) -> str:
    bench = data.bench
    if bench is None:
        body = '<p class="empty">No benchmark results (bench/results/latest.json does not exist).</p>'
    else:
        body = f'<p class="meta">From <code>{escape(bench["source"])}</code>'
        if bench.get("meta"):
            body += " · " + ", ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in bench["meta"].items())
        body += ".</p>"
        if bench.get("note"):
            body += f'<p class="empty">{escape(bench["note"])}</p>'
        if bench["rows"]:
            rows = [[_bench_value(row.get(c)) for c in bench["columns"]] for row in bench["rows"]]
            body += _table(bench["columns"], rows, "bench-table")
    return f'<section id="bench"><h2>Latest benchmark</h2>{body}</section>'


def _bench_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return _n(value)


def _table(headers: list[str], rows: list[list[str]], table_id: str, total: int | None = None) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}">None.</p>'
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    more = ""
    if total is not None and total > len(rows):
        more = f'<p class="meta">Showing {len(rows):,} of {total:,}.</p>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0 auto;
       max-width: 1100px; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 10px; display: flex; align-items: center; gap: 10px; }
section { border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 18px; margin: 18px 0; }
.meta { color: #57606a; margin: 6px 0; }
.empty { color: #57606a; font-style: italic; }
.badge { color: #fff; border-radius: 999px; padding: 3px 14px; font-size: 15px; text-transform: uppercase;
         letter-spacing: .04em; }
.count { background: #eaeef2; border-radius: 999px; padding: 1px 10px; font-size: 14px; color: #1f2328; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px; }
.figure { background: #f6f8fa; border-radius: 6px; padding: 10px 12px; }
.figure .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.figure .label { color: #57606a; font-size: 12px; }
.figure.bad .value { color: #cf222e; }
svg.chart { display: block; margin: 6px 0; max-height: 320px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 8px; font-size: 12px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.swatch { width: 11px; height: 11px; border-radius: 2px; display: inline-block; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin-top: 8px;
        font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d8dee4; padding: 4px 8px; text-align: left; }
th { background: #f6f8fa; }
code { font-size: 12.5px; }
@media print { section { break-inside: avoid; } }
"""
