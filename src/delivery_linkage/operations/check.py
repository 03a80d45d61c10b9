"""The daily integrity check: reads the dbt model daily_integrity_check, where every figure and the
health status are defined (models/intermediate/int_delivery_integrity__assessed.sql and
int_user_link_audit__last_24h.sql). The model is a view: reading it computes the figures now, from
the app tables, so `linkage check` needs one `dbt run` ever (to create the views), not one per check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal

from delivery_linkage.database.schemas import marts_schema
from delivery_linkage.database.schemas import quote_identifier as _quote

HEALTHY, WARNING, CRITICAL = 0, 1, 2  # exit statuses, the monitoring-plugin convention
CHECK_MODEL = "daily_integrity_check"


class ModelsNotBuiltError(RuntimeError):
    """The metric models are missing from the database; the message says how to build them."""


@dataclass
class IntegrityReport:
    check_timestamp: datetime
    total_deliveries: int
    inconsistent_deliveries: int
    consistent_deliveries: int
    both_null_deliveries: int
    conflicting_deliveries: int
    inconsistency_percentage: Decimal
    health_status: str
    attempts_24h: int
    linked_24h: int
    success_rate_24h: Decimal | None
    backfill_links_24h: int
    backfilled_guests_24h: int
    critical_pct: float
    # the original daily script's figure on the same data, and its statuses (see delivery_integrity)
    runbook_total_deliveries: int = 0
    runbook_inconsistent_deliveries: int = 0
    runbook_inconsistency_percentage: Decimal = Decimal("0.00")
    runbook_alert_status: str = "healthy"
    runbook_health_status: str = "HEALTHY"
    missing_feature_flags: list[str] = field(default_factory=list)
    audit_write_failures: int = 0
    last_audit_write_failure_at: datetime | None = None

    @property
    def problems(self) -> list[str]:
        """What is wrong besides the figures: a missing flag row (linking silently off or on) and audit
        groups that could not be stored. Each makes a healthy check a warning."""
        found = []
        if self.missing_feature_flags:
            found.append(
                "feature flag rows missing: " + ", ".join(self.missing_feature_flags)
                + " (read as off; the next deploy restores them: `dbt run-operation deploy`)"
            )
        if self.audit_write_failures:
            found.append(
                f"{self.audit_write_failures} audit groups could not be stored (kept in "
                "delivery_linkage.audit_write_failures with the error)"
            )
        return found

    @property
    def status(self) -> str:
        """The status to alert on: the health status, raised to warning by any of the problems."""
        if self.health_status == "healthy" and self.problems:
            return "warning"
        return self.health_status

    @property
    def exit_status(self) -> int:
        return {"healthy": HEALTHY, "warning": WARNING, "critical": CRITICAL}[self.status]

    @property
    def statuses_agree(self) -> bool:
        """Whether the runbook's alert levels say the same on the original script's figure."""
        return self.health_status == self.runbook_alert_status

    def as_dict(self) -> dict:
        data = asdict(self)
        data["check_timestamp"] = self.check_timestamp.isoformat()
        if self.last_audit_write_failure_at is not None:
            data["last_audit_write_failure_at"] = self.last_audit_write_failure_at.isoformat()
        for key in ("inconsistency_percentage", "success_rate_24h", "runbook_inconsistency_percentage"):
            data[key] = None if data[key] is None else float(data[key])
        data["exit_status"] = self.exit_status
        data["status"] = self.status
        data["problems"] = self.problems
        data["statuses_agree"] = self.statuses_agree
        return data


def _check_relation(conn, schema: str) -> str:
    relation = f"{_quote(schema)}.{_quote(CHECK_MODEL)}"
    if conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is None:
        raise ModelsNotBuiltError(
            f"the metric models are not built: {schema}.{CHECK_MODEL} does not exist\n"
            f"  fix: run `dbt run` once against this database (it builds the models, views that compute "
            f"the figures when read, in schema DBT_SCHEMA, here {schema!r}); "
            "`dbt run --select +daily_integrity_check` builds only what the check reads"
        )
    return relation


def check(conn, critical_pct: float | None = None, schema: str | None = None) -> IntegrityReport:
    """The figures of daily_integrity_check, with critical_pct as the threshold (None: the model's,
    var linkage_critical_pct). Raises ModelsNotBuiltError when the models were never built."""
    relation = _check_relation(conn, schema or marts_schema())
    with conn.transaction(), conn.cursor() as cursor:
        if critical_pct is not None:
            # transaction-local: nothing outlives the check's transaction (transaction-mode poolers)
            cursor.execute("select set_config('linkage.critical_pct', %s, true)", (str(critical_pct),))
        cursor.execute(f"select * from {relation}")
        columns = [column.name for column in cursor.description]
        row = dict(zip(columns, cursor.fetchone(), strict=True))
        if critical_pct is not None:  # within a caller's open transaction the setting would linger
            cursor.execute("select set_config('linkage.critical_pct', '', true)")
    # one field per column of the view, by name; two need their Python shape
    figures = {column.name: row[column.name] for column in fields(IntegrityReport)}
    figures["critical_pct"] = float(figures["critical_pct"])
    figures["missing_feature_flags"] = list(figures["missing_feature_flags"] or [])
    return IntegrityReport(**figures)


def check_if_built(conn, critical_pct: float | None = None) -> IntegrityReport | None:
    """The check, or None where the models were never built (for operations that only show figures)."""
    try:
        return check(conn, critical_pct)
    except ModelsNotBuiltError:
        return None
