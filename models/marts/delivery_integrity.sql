-- The runbook's daily integrity check, one row, computed when read (a view): the project's figures
-- and health_status, and beside them the runbook's (the original daily script's) figure and
-- statuses. Defined in int_delivery_integrity__assessed.

with

assessed as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

integrity as (
    select
        check_timestamp,
        total_deliveries,
        inconsistent_deliveries,
        consistent_deliveries,
        both_null_deliveries,
        conflicting_deliveries,
        inconsistency_percentage,
        health_status,
        critical_pct,
        runbook_total_deliveries,
        runbook_inconsistent_deliveries,
        runbook_inconsistency_percentage,
        runbook_alert_status,
        runbook_health_status
    from assessed
)

select * from integrity
