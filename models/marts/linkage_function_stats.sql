-- The runbook's "performance monitoring" enhancement: calls and time per call of every function of
-- the linkage (its triggers included), from the statistics the server keeps in pg_stat_user_functions.
-- The server collects them only while track_functions is 'pl' or 'all' (see the model's description);
-- with tracking off every function is listed with 0 calls.

with

linkage_functions as (
    select * from {{ ref('int_linkage_functions__identified') }}
),

function_statistics as (
    select * from {{ ref('stg_pg_catalog__function_statistics') }}
),

database_statistics as (
    select * from {{ ref('stg_pg_catalog__database_statistics') }}
),

joined as (
    select
        linkage_functions.function_schema,
        linkage_functions.function_name,
        linkage_functions.function_arguments,
        linkage_functions.is_trigger_function,
        linkage_functions.is_plpgsql,
        coalesce(function_statistics.calls, 0)::bigint as calls,
        coalesce(function_statistics.total_time_ms, 0)::double precision as total_time_ms,
        coalesce(function_statistics.self_time_ms, 0)::double precision as self_time_ms
    from linkage_functions
    left join function_statistics
        on linkage_functions.function_oid = function_statistics.function_oid
),

per_call as (
    select
        joined.function_name,
        joined.function_arguments,
        case when joined.is_trigger_function then 'trigger' else 'function' end as function_kind,
        joined.calls,
        joined.total_time_ms,
        joined.self_time_ms,
        case when joined.calls > 0 then joined.total_time_ms / joined.calls end as total_time_per_call_ms,
        case when joined.calls > 0 then joined.self_time_ms / joined.calls end as self_time_per_call_ms,
        current_setting('track_functions') as track_functions,
        current_setting('track_functions') = 'all'
        or (current_setting('track_functions') = 'pl' and joined.is_plpgsql) as is_tracked,
        database_statistics.stats_reset,
        joined.function_schema,
        joined.function_schema || '.' || joined.function_name
        || '(' || joined.function_arguments || ')' as function_signature
    from joined
    cross join database_statistics
)

select * from per_call
