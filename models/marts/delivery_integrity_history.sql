{{
    config(
        materialized='incremental',
        unique_key='check_timestamp',
        on_schema_change='append_new_columns',
        full_refresh=false,
    )
}}

{%- set categories = linkage_delivery_categories() %}

-- One row per run of this model: the delivery_integrity figures, for trends and the anomaly test.
-- Reads the intermediate model (not delivery_integrity) so that `dbt build` still records a
-- critical day: the error-severity test on delivery_integrity would otherwise skip this model.
-- full_refresh false: `dbt run --full-refresh` keeps the history.

with

assessed as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

history_row as (
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
        runbook_inconsistency_percentage
    from assessed
)

select * from history_row
