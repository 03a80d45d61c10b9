-- The runbook's daily integrity check, one row, computed when read (a view): the total, one count
-- per delivery category (they add up to the total), the defects and their share, health_status,
-- and beside them the runbook's (the original daily script's) figure with one line saying why it
-- differs. Defined in int_delivery_integrity__assessed.

{%- set categories = linkage_delivery_categories() %}

with

assessed as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

integrity as (
    select
        check_timestamp,
        total_deliveries,
        {%- for category in categories %}
            {{ category.name }},
        {%- endfor %}
        inconsistent_deliveries,
        inconsistency_percentage,
        health_status,
        critical_pct,
        runbook_total_deliveries,
        runbook_inconsistent_deliveries,
        runbook_inconsistency_percentage,
        runbook_difference
    from assessed
)

select * from integrity
