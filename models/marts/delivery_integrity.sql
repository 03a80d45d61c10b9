-- The runbook's daily integrity check, one row, computed when read (a view): the total, the defects
-- and their share, health_status (int_delivery_integrity__assessed: cheap at any size, computed now),
-- and, as counted by the last run of delivery_integrity_history (each dbt build), one count per
-- delivery category (they add up to categories_total_deliveries) and the runbook's (the original
-- daily script's) figure, with one line saying why it differs; categories_counted_at says when.

{%- set categories = linkage_delivery_categories() %}

with

assessed as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

last_counted as (
    select * from {{ ref('int_delivery_integrity__last_counted') }}
),

last_categories as (
    select
        check_timestamp as categories_counted_at,
        categorized_total_deliveries as categories_total_deliveries,
        {%- for category in categories %}
            {{ category.name }},
        {%- endfor %}
        runbook_total_deliveries,
        runbook_inconsistent_deliveries,
        runbook_inconsistency_percentage,
        {{ linkage_runbook_difference() }} as runbook_difference
    from last_counted
),

integrity as (
    select
        assessed.check_timestamp,
        assessed.total_deliveries,
        {%- for category in categories %}
            last_categories.{{ category.name }},
        {%- endfor %}
        assessed.inconsistent_deliveries,
        assessed.inconsistency_percentage,
        assessed.health_status,
        assessed.critical_pct,
        last_categories.runbook_total_deliveries,
        last_categories.runbook_inconsistent_deliveries,
        last_categories.runbook_inconsistency_percentage,
        last_categories.runbook_difference,
        last_categories.categories_counted_at,
        last_categories.categories_total_deliveries
    from assessed
    left join last_categories
        on true
)

select * from integrity
