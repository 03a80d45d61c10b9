-- The hourly integrity figures with their percentage and health status: the one definition that
-- delivery_integrity, delivery_integrity_history and daily_integrity_check (read by `linkage check`
-- and the psql script) select from. Cheap at any size (int_delivery_integrity__counts).
--
-- critical_pct: the session setting linkage.critical_pct when set (how `linkage check
-- --critical-pct` and the psql script pass their threshold, transaction-local), else var
-- linkage_critical_pct (default 1.0).

with

counts as (
    select * from {{ ref('int_delivery_integrity__counts') }}
),

percentages as (
    select
        check_timestamp,
        total_deliveries,
        inconsistent_deliveries,
        {{ linkage_inconsistency_percentage('inconsistent_deliveries', 'total_deliveries') }}
            as inconsistency_percentage,
        {{ linkage_critical_pct() }} as critical_pct
    from counts
),

assessed as (
    select
        check_timestamp,
        total_deliveries,
        inconsistent_deliveries,
        inconsistency_percentage,
        {{ linkage_health_status('inconsistent_deliveries', 'inconsistency_percentage', 'critical_pct') }}
            as health_status,
        critical_pct
    from percentages
)

select * from assessed
