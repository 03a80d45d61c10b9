-- The runbook's daily integrity check, one row. Counts come from int_delivery_integrity__counts
-- (no per-delivery classification); percentage and health are computed here.

with

counts as (
    select * from {{ ref('int_delivery_integrity__counts') }}
),

percentages as (
    select
        total_deliveries,
        inconsistent_deliveries,
        consistent_deliveries,
        both_null_deliveries,
        conflicting_deliveries,
        {{ linkage_inconsistency_percentage('inconsistent_deliveries', 'total_deliveries') }}
            as inconsistency_percentage
    from counts
),

health as (
    select
        now() as check_timestamp,
        total_deliveries,
        inconsistent_deliveries,
        consistent_deliveries,
        both_null_deliveries,
        conflicting_deliveries,
        inconsistency_percentage,
        {{ linkage_health_status('inconsistent_deliveries', 'inconsistency_percentage') }} as health_status,
        ({{ linkage_critical_pct() }})::numeric(5, 2) as critical_pct
    from percentages
)

select * from health
