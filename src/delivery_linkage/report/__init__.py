"""`linkage report --out FILE.html`: one self-contained page for the data team (inline CSS and SVG,
no script, no external link) built from the metric models: integrity now, inconsistency over time,
link attempts and backfill activity per day, ambiguous phone groups, conflicts, the deliveries that
are linkable but NULL, and the meaning of every term the page uses.

Made to be shared: guests' phone numbers and names are redacted unless `show_pii` (`--show-pii`).
The models are read from schema DBT_SCHEMA (default linkage), where `dbt run` builds them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

from delivery_linkage.database.connection import ConnectionSettings, connect
from delivery_linkage.database.schemas import marts_schema
from delivery_linkage.database.schemas import quote_identifier as _quote
from delivery_linkage.report import glossary
from delivery_linkage.report.svg import Series, legend, line_chart, stacked_bar_chart

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
MASK = "\u2022"  # a bullet stands for each hidden digit


class ReportError(RuntimeError):
    """The report could not be built; the message names the cause and the fix."""


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


def load(settings: ConnectionSettings, days: int = 90) -> ReportData:
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


# --- page --------------------------------------------------------------------------------------------


def write_report(settings: ConnectionSettings, out: Path, days: int = 90, show_pii: bool = False) -> Path:
    """Writes the report to `out` (parents created) and returns its absolute path."""
    data = load(settings, days=days)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data, show_pii=show_pii), encoding="utf-8")
    return out


def render(data: ReportData, show_pii: bool = False) -> str:
    terms = glossary.Glossary(critical_pct=float(data.integrity["critical_pct"]))
    sections = [
        _integrity_section(data, terms),
        _history_section(data, terms),
        _attempts_section(data, terms),
        _backfill_section(data, terms),
        _ambiguous_section(data, terms, show_pii),
        _conflicts_section(data, terms),
        _linkable_null_section(data, terms, show_pii),
        terms.section(),  # last: it lists the terms the sections above used
    ]
    status = data.integrity["health_status"]
    privacy = (
        "Includes guests' phone numbers and names (<code>--show-pii</code>): do not share it further."
        if show_pii
        else "Guests' phone numbers and names are redacted; <code>linkage report --show-pii</code> includes them."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>delivery_linkage report: {escape(status)}</title><style>{CSS}</style></head>"
        f'<body data-health="{escape(status)}" data-pii="{"shown" if show_pii else "redacted"}">'
        "<header><h1>delivery_linkage report</h1>"
        f'<p class="meta">{escape(data.database)} · models in schema <code>{escape(data.schema)}</code> · '
        f"generated {escape(data.generated_at.strftime('%Y-%m-%d %H:%M UTC'))} · all times UTC</p>"
        f'<p class="meta" id="privacy">{privacy}</p></header>'
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


class Cell(str):
    """A table cell already in HTML (the others are escaped)."""


def _id(value) -> Cell:
    """An identifier (uuid): monospace, and free to wrap anywhere on a narrow page."""
    return Cell(f'<code class="id">{escape(_n(value))}</code>')


def _figure(label: str, value: str, cls: str = "") -> str:
    return (
        f'<div class="figure {cls}"><div class="value">{escape(value)}</div>'
        f'<div class="label">{label}</div></div>'
    )


def _integrity_section(data: ReportData, terms: glossary.Glossary) -> str:
    i = data.integrity
    status = i["health_status"]
    rate = data.success_24h or {}
    success = "n/a" if rate.get("success_rate") is None else f"{float(rate['success_rate']) * 100:.2f}%"
    figures = "".join(
        [
            _figure(terms.use("delivery", "total deliveries"), _n(i["total_deliveries"])),
            _figure(
                terms.use("linkable_null", "linkable but NULL"),
                _n(i["inconsistent_deliveries"]),
                "bad" if i["inconsistent_deliveries"] else "",
            ),
            _figure(
                terms.use("inconsistency"), f"{i['inconsistency_percentage']}%", "bad" if status == "critical" else ""
            ),
            _figure(terms.use("consistent"), _n(i["consistent_deliveries"])),
            _figure(terms.use("both_null", "both NULL"), _n(i["both_null_deliveries"])),
            _figure(
                terms.use("conflicting"),
                _n(i["conflicting_deliveries"]),
                "bad" if i["conflicting_deliveries"] else "",
            ),
            _figure(
                terms.use("success_rate", "trigger success rate, 24 h")
                + f" ({escape(_n(rate.get('total_attempts', 0)))} attempts)",
                success,
            ),
        ]
    )
    for each in ["health", *HEALTH_COLOURS]:  # the three statuses are glossed together, whichever is shown
        terms.use(each)
    colour = HEALTH_COLOURS.get(status, "#6e7781")
    return (
        '<section id="integrity"><h2>Integrity now '
        f'<a id="health-badge" class="badge" href="#term-{escape(status)}" style="background:{colour}">'
        f"{escape(status)}</a></h2>"
        f'<p class="meta">checked {escape(_n(i["check_timestamp"]))}; '
        f"{terms.use('critical', 'critical')} above {escape(str(i['critical_pct']))}% "
        "(dbt var <code>linkage_critical_pct</code>)</p>"
        f'<div class="figures">{figures}</div></section>'
    )


def _history_section(data: ReportData, terms: glossary.Glossary) -> str:
    points = [(row["check_timestamp"], float(row["inconsistency_percentage"])) for row in data.history]
    threshold = float(data.integrity["critical_pct"])
    if not points:
        body = (
            '<p class="empty">No history yet: every <code>dbt run</code> adds a row to '
            "delivery_integrity_history.</p>"
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
            f'<p class="meta">{len(points)} {terms.use("check", "checks")} from '
            f"{escape(_n(data.history[0]['check_timestamp']))} to {escape(_n(latest['check_timestamp']))}; "
            f"latest {escape(str(latest['inconsistency_percentage']))}% "
            f"({terms.use(latest['health_status'] or '', latest['health_status'] or '')}). "
            f"Points are coloured by {terms.use('health', 'health status')}.</p>"
        )
    return f'<section id="history"><h2>Inconsistency over time</h2>{body}</section>'


def _day_range(rows: list[dict]) -> list[date]:
    if not rows:
        return []
    first, last = min(r["activity_date"] for r in rows), max(r["activity_date"] for r in rows)
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _attempts_section(data: ReportData, terms: glossary.Glossary) -> str:
    days = _day_range(data.attempts)
    if not days:
        return (
            f'<section id="attempts"><h2>{terms.use("attempt", "Link attempts")} per day</h2>'
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
        [
            Cell(terms.use(f"source_{table}", table)),
            Cell(terms.use(f"outcome_{outcome}", outcome)),
            Cell(terms.use(f"reason_{reason}", reason)),
            _n(count),
        ]
        for (table, outcome, reason), count in sorted(by_table.items(), key=lambda kv: (kv[0][0], -kv[1]))
    ]
    return (
        f'<section id="attempts"><h2>{terms.use("attempt", "Link attempts")} per day, by '
        f'{terms.use("outcome", "outcome")} and {terms.use("reason", "reason")}</h2>'
        f"{chart}{legend(series)}"
        f'<p class="meta">Every audit row, {days[0]} to {days[-1]}, by where it was written '
        "(<code>table_name</code>).</p>"
        + _table(["written by", "outcome", "reason", "rows"], table_rows, "attempts-table")
        + "</section>"
    )


def _backfill_section(data: ReportData, terms: glossary.Glossary) -> str:
    days = _day_range(data.backfills)
    if not days:
        return (
            f'<section id="backfill"><h2>{terms.use("backfill", "Backfill")} activity</h2>'
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
            Cell(terms.use(f"kind_{r['backfill_kind']}", r["backfill_kind"])),
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
        f'<section id="backfill"><h2>{terms.use("backfill", "Backfill")} activity</h2>'
        f"{chart}{legend(series)}"
        + _table(["day", "kind", "deliveries linked", "guests", "first", "last"], rows, "backfill-table")
        + "</section>"
    )


def _ambiguous_section(data: ReportData, terms: glossary.Glossary, show_pii: bool) -> str:
    rows = [
        [
            Cell(terms.use(f"group_{r['group_type']}", r["group_type"])),
            r["normalized_phone"] if show_pii else redact_phone(r["normalized_phone"]),
            _id(r["event_id"]) if r["event_id"] is not None else "–",
            _n(r["member_count"]),
        ]
        for r in data.ambiguous
    ]
    return (
        f'<section id="ambiguous"><h2>{terms.use("ambiguous_group", "Ambiguous phone groups")} '
        f'<span class="count">{_n(data.ambiguous_total)}</span></h2>'
        '<p class="meta">No action needed unless one of these guests reports a missing message: the guest '
        "record or the user needs a distinct phone.</p>"
        + _table(["group", "phone", "event", "members"], rows, "ambiguous-table", data.ambiguous_total)
        + "</section>"
    )


def _conflicts_section(data: ReportData, terms: glossary.Glossary) -> str:
    total = data.integrity["conflicting_deliveries"]
    rows = [
        [
            _id(r["delivery_id"]),
            _id(r["guest_id"]),
            _id(r["delivery_user_id"]),
            _id(r["guest_user_id"]),
            _n(r["guest_is_active"]),
            _n(r["delivery_created_at"]),
        ]
        for r in data.conflicts
    ]
    return (
        f'<section id="conflicts"><h2>{terms.use("conflicting", "Conflicts")} '
        f'<span class="count">{_n(total)}</span></h2>'
        '<p class="meta">The linkage never overwrites a user: each one needs a look.</p>'
        + _table(
            ["delivery", "guest", "delivery user", "guest user", "guest active", "created"],
            rows,
            "conflicts-table",
            total,
        )
        + "</section>"
    )


def _linkable_null_section(data: ReportData, terms: glossary.Glossary, show_pii: bool) -> str:
    total = data.integrity["inconsistent_deliveries"]
    headers = ["delivery", "guest", "guest user", "delivery created", "guest updated", "timing"]
    if show_pii:
        headers.insert(2, "guest name")
    rows = []
    for r in data.linkable_null:
        row = [
            _id(r["delivery_id"]),
            _id(r["guest_id"]),
            _id(r["guest_user_id"]),
            _n(r["delivery_created_at"]),
            _n(r["guest_updated_at"]),
            Cell(terms.use(r["timing"], r["timing"])),
        ]
        if show_pii:
            row.insert(2, r["guest_name"] or "")
        rows.append(row)
    return (
        f'<section id="linkable-null"><h2>{terms.use("linkable_null", "Linkable but NULL")} '
        f'<span class="count">{_n(total)}</span></h2>'
        '<p class="meta">What to do: run the historical backfill (<code>linkage backfill</code> or '
        "<code>dbt run-operation backfill_deliveries</code>).</p>"
        + _table(headers, rows, "linkable-null-table", total)
        + "</section>"
    )


def _table(headers: list[str], rows: list[list[str]], table_id: str, total: int | None = None) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}">None.</p>'
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, Cell) else escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    more = ""
    if total is not None and total > len(rows):
        more = f'<p class="meta">Showing {len(rows):,} of {total:,}.</p>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'


CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0 auto;
       max-width: 1100px; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 10px; }
section { border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 18px; margin: 18px 0; }
.meta { color: #57606a; margin: 6px 0; overflow-wrap: anywhere; }
.empty { color: #57606a; font-style: italic; }
a { color: inherit; }
a.term { text-decoration: underline dotted #8c959f; text-underline-offset: 2px; }
.badge { color: #fff; border-radius: 999px; padding: 3px 14px; font-size: 15px; text-transform: uppercase;
         letter-spacing: .04em; text-decoration: none; }
.badge, .count { display: inline-block; margin-left: 8px; vertical-align: 2px; }
.count { background: #eaeef2; border-radius: 999px; padding: 1px 10px; font-size: 14px; color: #1f2328; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px; }
.figure { background: #f6f8fa; border-radius: 6px; padding: 10px 12px; min-width: 0; }
.figure .value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.figure .label { color: #57606a; font-size: 12px; }
.figure.bad .value { color: #cf222e; }
svg.chart { display: block; margin: 6px 0; max-height: 320px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 8px; font-size: 12px; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; }
.swatch { width: 11px; height: 11px; border-radius: 2px; display: inline-block; flex: none; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin-top: 8px;
        font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f6f8fa; }
code { font-size: 12.5px; }
code.id { font-size: 11.5px; overflow-wrap: anywhere; }
dl.terms { display: grid; grid-template-columns: minmax(8em, 15em) 1fr; gap: 6px 16px; margin: 0; }
dl.terms dt { font-weight: 600; overflow-wrap: anywhere; }
dl.terms dd { margin: 0; }
dl.terms dt:target, dl.terms dt:target + dd { background: #fff8c5; }
@media (max-width: 560px) { body { padding: 10px; } section { padding: 12px 10px; }
                            dl.terms { grid-template-columns: 1fr; } dl.terms dd { margin: 0 0 6px; } }
@media print { section { break-inside: avoid; } }
"""
