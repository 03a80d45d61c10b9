{{
    config(
        materialized='incremental',
        unique_key='check_timestamp',
        on_schema_change='append_new_columns',
    )
}}

-- One row per run of this model: the delivery_integrity figures, for trends. Built from the
-- counts (not from delivery_integrity) so that `dbt build` still records a critical day: the
-- error-severity test on delivery_integrity would otherwise skip this model.

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
