-- The integrity figures with their percentage and health status: the one definition that
-- delivery_integrity, delivery_integrity_history, daily_integrity_check (read by `linkage check`
-- and the psql script) and the tests select from. Beside them, the runbook's figure and one line
-- saying why it differs; it is never judged (one verdict: health_status).
--
-- critical_pct: the session setting linkage.critical_pct when set (how `linkage check
-- --critical-pct` and the psql script pass their threshold, transaction-local), else var
-- linkage_critical_pct (default 1.0).

{%- set categories = linkage_delivery_categories() %}

with

counts as (
    select * from {{ ref('int_delivery_integrity__counts') }}
),

percentages as (
    select
        check_timestamp,
        total_deliveries,
        {%- for category in categories %}
            {{ category.name }},
        {%- endfor %}
        inconsistent_deliveries,
        {{ linkage_inconsistency_percentage('inconsistent_deliveries', 'total_deliveries') }}
            as inconsistency_percentage,
        {{ linkage_critical_pct() }} as critical_pct,
        runbook_total_deliveries,
        runbook_inconsistent_deliveries,
        {{ linkage_inconsistency_percentage('runbook_inconsistent_deliveries', 'runbook_total_deliveries') }}
            as runbook_inconsistency_percentage
    from counts
),

assessed as (
    select
        check_timestamp,
        total_deliveries,
        {%- for category in categories %}
            {{ category.name }},
        {%- endfor %}
        inconsistent_deliveries,
        inconsistency_percentage,
        {{ linkage_health_status('inconsistent_deliveries', 'inconsistency_percentage', 'critical_pct') }}
            as health_status,
        critical_pct,
        runbook_total_deliveries,
        runbook_inconsistent_deliveries,
        runbook_inconsistency_percentage,
        {{ linkage_runbook_difference() }} as runbook_difference
    from percentages
)

select * from assessed
