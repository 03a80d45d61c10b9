{{
    config(
        materialized='incremental',
        unique_key='node_result_key',
        on_schema_change='append_new_columns',
        full_refresh=false,
    )
}}

-- The store of dbt's results, one row per node per invocation, appended by the on-run-end hook
-- (macros/history/linkage_store_run_results.sql) from dbt's `results`. This model only gives the
-- table its columns: it selects no row, and full_refresh false keeps the history through
-- `dbt run --full-refresh`.

with

store_shape as (
    select
        null::text as node_result_key,
        null::text as invocation_id,
        null::text as command,
        null::timestamptz as invocation_started_at,
        null::text as dbt_version,
        null::text as target_name,
        null::text as node_unique_id,
        null::text as resource_type,
        null::text as node_name,
        null::text as status,
        null::bigint as failures,
        null::text as message,
        null::double precision as execution_seconds,
        null::timestamptz as started_at,
        null::timestamptz as completed_at,
        null::bigint as rows_affected,
        null::text as test_severity,
        null::text as tested_node,
        null::text as column_name
    where false
)

select * from store_shape
