{{
    config(
        materialized='incremental',
        unique_key='check_timestamp',
        on_schema_change='append_new_columns',
        full_refresh=false,
    )
}}

{%- set categories = linkage_delivery_categories() %}

-- One row per run of this model, for trends, the anomaly test and the delivery categories as of the
-- last run: the hourly figures (int_delivery_integrity__assessed: the total and the defects found
-- through the indexes) and, in the same statement (one snapshot), every delivery counted by category
-- (int_delivery_categories__counted: the one pass over every delivery a dbt build makes) with the
-- runbook's figure. categorized_total_deliveries and categorized_inconsistent_deliveries are that pass's
-- total and defects: the tests check the categories add up to it and that it equals the hourly figures.
-- Reads intermediate models (not delivery_integrity) so that `dbt build` still records a critical day:
-- the error-severity test on delivery_integrity would otherwise skip this model. full_refresh false:
-- `dbt run --full-refresh` keeps the history.

with

assessed as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

categories as (
    select * from {{ ref('int_delivery_categories__counted') }}
),

history_row as (
    select
        assessed.check_timestamp,
        assessed.total_deliveries,
        {%- for category in categories %}
            categories.{{ category.name }},
        {%- endfor %}
        assessed.inconsistent_deliveries,
        assessed.inconsistency_percentage,
        assessed.health_status,
        assessed.critical_pct,
        categories.runbook_total_deliveries,
        categories.runbook_inconsistent_deliveries,
        {{ linkage_inconsistency_percentage(
            'categories.runbook_inconsistent_deliveries', 'categories.runbook_total_deliveries'
        ) }} as runbook_inconsistency_percentage,
        categories.total_deliveries as categorized_total_deliveries,
        categories.inconsistent_deliveries as categorized_inconsistent_deliveries
    from assessed
    cross join categories
)

select * from history_row
