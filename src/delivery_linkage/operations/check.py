"""The daily integrity check: reads the dbt model daily_integrity_check, where every figure and the
verdict are defined (models/intermediate/int_delivery_integrity__assessed.sql, the delivery
categories of macros/metrics/linkage_delivery_categories.sql, int_user_link_audit__last_24h.sql),
and the model delivery_categories (what each category means). The models are views: reading them
computes the figures now, from the app tables, at a small part of the cost of reading every delivery
(the total from an index, the defects through the partial index on deliveries without a user), so
`linkage check` needs one `dbt run` ever (to create the views), not one per check. The delivery
categories and the runbook's figure, which need every delivery read, are the last dbt build's
(categories_counted_at). Read-only: runs on a hot standby too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from delivery_linkage.database.schemas import marts_schema
from delivery_linkage.database.schemas import quote_identifier as _quote

HEALTHY, WARNING, CRITICAL = 0, 1, 2  # exit statuses, the monitoring-plugin convention
STATUSES = ("healthy", "warning", "critical")  # the runbook's alert levels, in order
EXIT_STATUS = {"healthy": HEALTHY, "warning": WARNING, "critical": CRITICAL}
CHECK_MODEL = "daily_integrity_check"
CATEGORIES_MODEL = "delivery_categories"


class ModelsNotBuiltError(RuntimeError):
    """The metric models are missing (or older than this tool); the message says how to build them."""


@dataclass(frozen=True)
class Category:
    """One delivery category (model delivery_categories) and how many deliveries were in it when the
    last dbt build counted them (IntegrityReport.categories_counted_at)."""

    name: str
    delivery_user: str  # 'set' or 'NULL'
    is_defect: bool
    description: str
    deliveries: int | None  # None: not counted yet (no dbt build since the models were created)


@dataclass
class IntegrityReport:
    check_timestamp: datetime
    total_deliveries: int
    inconsistent_deliveries: int
    inconsistency_percentage: Decimal
    health_status: str
    critical_pct: float
    categories: list[Category]
    status: str  # the verdict: health_status, raised to warning by a problem (check_status)
    attempts_24h: int = 0
    linked_24h: int = 0
    success_rate_24h: Decimal | None = None
    backfill_links_24h: int = 0
    backfilled_guests_24h: int = 0
    # the original daily script's figure on the same data, shown beside ours, never judged
    runbook_total_deliveries: int = 0
    runbook_inconsistent_deliveries: int = 0
    runbook_inconsistency_percentage: Decimal = Decimal("0.00")
    runbook_difference: str = ""
    # when the categories and the runbook's figure were counted (every delivery read once, by the last run
    # of delivery_integrity_history: each dbt build), and the total they add up to; None before the first
    categories_counted_at: datetime | None = None
    categories_total_deliveries: int | None = None
    missing_feature_flags: list[str] = field(default_factory=list)
    audit_write_failures: int = 0
    last_audit_write_failure_at: datetime | None = None
    queued_guests: int = 0
    oldest_queue_entry_at: datetime | None = None
    stale_queue_entries: int = 0
    audit_storage_problems: int = 0
    owners: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """What is wrong besides the figures: a missing flag row (linking silently off or on) and audit
        groups that could not be stored. Each makes a healthy check a warning (in the model's check_status)."""
        found = []
        if self.missing_feature_flags:
            found.append(
                "feature flag rows missing: "
                + ", ".join(self.missing_feature_flags)
                + " (read as off; the next deploy restores them: `dbt run-operation deploy`)"
            )
        if self.audit_write_failures:
            found.append(
                f"{self.audit_write_failures} audit groups an earlier version could not store (kept in "
                "delivery_linkage.audit_write_failures with the error)"
            )
        if self.stale_queue_entries:
            since = (
                self.oldest_queue_entry_at.isoformat(sep=" ", timespec="seconds") if self.oldest_queue_entry_at else "?"
            )
            found.append(
                f"the sweeper is not running: {self.stale_queue_entries} queue entries older than the sweep window "
                f"(oldest {since}); run `linkage sweep`, or schedule it in pg_cron"
            )
        if self.audit_storage_problems:
            found.append(
                f"the audit's storage would refuse rows ({self.audit_storage_problems} problems: "
                "`select * from delivery_linkage.audit_storage_problems()`): the app's writes would fail"
            )
        return found

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.status]

    @property
    def categorized_deliveries(self) -> int:
        """The categories' counts added up: categories_total_deliveries, always (each delivery is in exactly
        one); the total when they were counted, not necessarily now."""
        return sum(category.deliveries or 0 for category in self.categories)

    def as_dict(self) -> dict:
        """The JSON of `linkage check --json` (status and exit_code first)."""
        data = {
            "status": self.status,
            "exit_code": self.exit_status,
            "check_timestamp": self.check_timestamp.isoformat(),
            "total_deliveries": self.total_deliveries,
            "categories": {category.name: category.deliveries for category in self.categories},
            "categories_counted_at": (
                None if self.categories_counted_at is None else self.categories_counted_at.isoformat()
            ),
            "categories_total_deliveries": self.categories_total_deliveries,
            "defect_categories": [category.name for category in self.categories if category.is_defect],
            "inconsistent_deliveries": self.inconsistent_deliveries,
            "inconsistency_percentage": float(self.inconsistency_percentage),
            "health_status": self.health_status,
            "critical_pct": self.critical_pct,
            "problems": self.problems,
            "runbook_figure": {
                "total_deliveries": self.runbook_total_deliveries,
                "inconsistent_deliveries": self.runbook_inconsistent_deliveries,
                "inconsistency_percentage": float(self.runbook_inconsistency_percentage),
                "difference": self.runbook_difference,
            },
            "attempts_24h": self.attempts_24h,
            "linked_24h": self.linked_24h,
            "success_rate_24h": None if self.success_rate_24h is None else float(self.success_rate_24h),
            "backfill_links_24h": self.backfill_links_24h,
            "backfilled_guests_24h": self.backfilled_guests_24h,
            "missing_feature_flags": list(self.missing_feature_flags),
            "audit_write_failures": self.audit_write_failures,
            "last_audit_write_failure_at": (
                None if self.last_audit_write_failure_at is None else self.last_audit_write_failure_at.isoformat()
            ),
            "queued_guests": self.queued_guests,
            "oldest_queue_entry_at": (
                None if self.oldest_queue_entry_at is None else self.oldest_queue_entry_at.isoformat()
            ),
            "stale_queue_entries": self.stale_queue_entries,
            "audit_storage_problems": self.audit_storage_problems,
            "owners": list(self.owners),
            "tags": list(self.tags),
        }
        return data


def _relation(conn, schema: str, name: str) -> str:
    relation = f"{_quote(schema)}.{_quote(name)}"
    if conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is None:
        raise ModelsNotBuiltError(
            f"the metric models are not built: {schema}.{name} does not exist\n"
            f"  fix: run `dbt run` once against this database (it builds the models, views that compute "
            f"the figures when read, in schema DBT_SCHEMA, here {schema!r}); "
            "`dbt run --select +daily_integrity_check delivery_categories` builds only what the check reads"
        )
    return relation


def check(conn, critical_pct: float | None = None, schema: str | None = None) -> IntegrityReport:
    """The figures of daily_integrity_check, with critical_pct as the threshold (None: the model's,
    var linkage_critical_pct). Raises ModelsNotBuiltError when the models were never built, or were
    built by an older version (`dbt run` rebuilds them)."""
    schema = schema or marts_schema()
    relation = _relation(conn, schema, CHECK_MODEL)
    categories_relation = _relation(conn, schema, CATEGORIES_MODEL)
    with conn.transaction(), conn.cursor() as cursor:
        if critical_pct is not None:
            # transaction-local: nothing outlives the check's transaction (transaction-mode poolers)
            cursor.execute("select set_config('linkage.critical_pct', %s, true)", (str(critical_pct),))
        cursor.execute(
            f"select delivery_category, delivery_user, is_defect, category_description from {categories_relation} "
            "order by category_order"
        )
        definitions = cursor.fetchall()
        cursor.execute(f"select * from {relation}")
        columns = [column.name for column in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
        if critical_pct is not None:  # within a caller's open transaction the setting would linger
            cursor.execute("select set_config('linkage.critical_pct', '', true)")
    missing = [name for name, *_ in definitions if name not in row] + [
        name
        for name in (
            "check_status",
            "owners",
            "tags",
            "runbook_difference",
            "categories_counted_at",
            "stale_queue_entries",
        )
        if name not in row
    ]
    if missing:
        raise ModelsNotBuiltError(
            f"{schema}.{CHECK_MODEL} was built by an older version of delivery_linkage (no column "
            f"{', '.join(missing)})\n  fix: run `dbt run` to rebuild the models"
        )
    categories = [
        Category(name, delivery_user, bool(is_defect), description, None if row[name] is None else int(row[name]))
        for name, delivery_user, is_defect, description in definitions
    ]
    return IntegrityReport(
        check_timestamp=row["check_timestamp"],
        total_deliveries=row["total_deliveries"],
        inconsistent_deliveries=row["inconsistent_deliveries"],
        inconsistency_percentage=row["inconsistency_percentage"],
        health_status=row["health_status"],
        critical_pct=float(row["critical_pct"]),
        categories=categories,
        status=row["check_status"],
        attempts_24h=row["attempts_24h"],
        linked_24h=row["linked_24h"],
        success_rate_24h=row["success_rate_24h"],
        backfill_links_24h=row["backfill_links_24h"],
        backfilled_guests_24h=row["backfilled_guests_24h"],
        runbook_total_deliveries=row["runbook_total_deliveries"] or 0,
        runbook_inconsistent_deliveries=row["runbook_inconsistent_deliveries"] or 0,
        runbook_inconsistency_percentage=row["runbook_inconsistency_percentage"] or Decimal("0.00"),
        runbook_difference=row["runbook_difference"] or "",
        categories_counted_at=row["categories_counted_at"],
        categories_total_deliveries=row["categories_total_deliveries"],
        missing_feature_flags=list(row["missing_feature_flags"] or []),
        audit_write_failures=row["audit_write_failures"],
        last_audit_write_failure_at=row["last_audit_write_failure_at"],
        queued_guests=row.get("queued_guests") or 0,
        oldest_queue_entry_at=row.get("oldest_queue_entry_at"),
        stale_queue_entries=row.get("stale_queue_entries") or 0,
        audit_storage_problems=row.get("audit_storage_problems") or 0,
        owners=list(row["owners"] or []),
        tags=list(row["tags"] or []),
    )


def check_if_built(conn, critical_pct: float | None = None) -> IntegrityReport | None:
    """The check, or None where the models were never built (for operations that only show figures)."""
    try:
        return check(conn, critical_pct)
    except ModelsNotBuiltError:
        return None
