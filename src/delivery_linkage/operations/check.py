"""The daily integrity check's figures, straight from the app tables
(same as the delivery_integrity model)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

HEALTHY, WARNING, CRITICAL = 0, 1, 2  # exit statuses, the monitoring-plugin convention


def app_schema() -> str:
    return os.environ.get("LINKAGE_APP_SCHEMA", "public")


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

    @property
    def exit_status(self) -> int:
        return {"healthy": HEALTHY, "warning": WARNING, "critical": CRITICAL}[self.health_status]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["check_timestamp"] = self.check_timestamp.isoformat()
        for key in ("inconsistency_percentage", "success_rate_24h"):
            data[key] = None if data[key] is None else float(data[key])
        data["exit_status"] = self.exit_status
        return data


def integrity_sql(schema: str) -> str:
    return f"""
    with unlinked as (
        select
            count(*) filter (where g.user_id is not null and g.removed_at is null) as inconsistent,
            count(*) filter (where g.id is not null and g.user_id is null) as both_null
        from {schema}.message_deliveries as d
        left join {schema}.event_guests as g on g.id = d.guest_id
        where d.user_id is null
    ),
    linked as (
        select
            count(*) filter (where g.user_id = d.user_id) as consistent,
            count(*) filter (where g.user_id is not null and g.user_id <> d.user_id) as conflicting
        from {schema}.message_deliveries as d
        join {schema}.event_guests as g on g.id = d.guest_id
        where d.user_id is not null
    ),
    total as (select count(*) as total from {schema}.message_deliveries)
    select now(), total.total, unlinked.inconsistent, linked.consistent, unlinked.both_null,
        linked.conflicting,
        round(100.0 * unlinked.inconsistent / nullif(total.total, 0), 2)
    from total, unlinked, linked
    """


def activity_sql(schema: str) -> str:
    return f"""
    select
        count(*) filter (where table_name = 'message_deliveries'),
        count(*) filter (where table_name = 'message_deliveries' and outcome = 'linked'),
        count(*) filter (where table_name = 'message_deliveries_backfill' and outcome = 'linked'),
        count(distinct matched_guest_id)
            filter (where table_name = 'message_deliveries_backfill' and outcome = 'linked')
    from {schema}.user_link_audit
    where created_at >= now() - interval '24 hours'
    """


def health_status(inconsistent: int, percentage: Decimal, critical_pct: float) -> str:
    if inconsistent == 0:
        return "healthy"
    if percentage > Decimal(str(critical_pct)):
        return "critical"
    return "warning"


def check(conn, critical_pct: float = 1.0, schema: str | None = None) -> IntegrityReport:
    schema = schema or app_schema()
    row = conn.execute(integrity_sql(schema)).fetchone()
    timestamp, total, inconsistent, consistent, both_null, conflicting, percentage = row
    percentage = percentage if percentage is not None else Decimal("0.00")
    attempts, linked, backfills, guests = conn.execute(activity_sql(schema)).fetchone()
    rate = (Decimal(linked) / attempts).quantize(Decimal("0.0001")) if attempts else None
    return IntegrityReport(
        check_timestamp=timestamp,
        total_deliveries=total,
        inconsistent_deliveries=inconsistent,
        consistent_deliveries=consistent,
        both_null_deliveries=both_null,
        conflicting_deliveries=conflicting,
        inconsistency_percentage=percentage,
        health_status=health_status(inconsistent, percentage, critical_pct),
        attempts_24h=attempts,
        linked_24h=linked,
        success_rate_24h=rate,
        backfill_links_24h=backfills,
        backfilled_guests_24h=guests,
        critical_pct=critical_pct,
    )
