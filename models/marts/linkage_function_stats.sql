-- The runbook's "performance monitoring" enhancement: calls and time per call of every function of
-- the linkage (its triggers included), from the statistics the server keeps in pg_stat_user_functions.
-- The server collects them only while track_functions is 'pl' or 'all' (see the model's description);
-- with tracking off every function is listed with 0 calls. The linkage's functions are found by the
-- comment the deploy gives each of them ('delivery_linkage: …'), in the app schema.

with

linkage_functions as (
    -- the catalogs, not a dbt source: every function the deploy created and commented
    select
        catalog_function.oid as function_oid,
        catalog_function.proname::text as function_name,
        pg_catalog.pg_get_function_identity_arguments(catalog_function.oid) as function_arguments,
        catalog_function.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype as is_trigger_function,
        proc_language.lanname = 'plpgsql' as is_plpgsql
    from pg_catalog.pg_proc as catalog_function
    inner join pg_catalog.pg_namespace as proc_schema
        on catalog_function.pronamespace = proc_schema.oid
    inner join pg_catalog.pg_language as proc_language
        on catalog_function.prolang = proc_language.oid
    inner join pg_catalog.pg_description as proc_description
        on
            catalog_function.oid = proc_description.objoid
            and proc_description.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
            and proc_description.objsubid = 0
    where
        proc_schema.nspname = '{{ var("linkage_app_schema", "public") }}'
        and proc_description.description like 'delivery_linkage:%'
),

function_statistics as (
    select * from pg_catalog.pg_stat_user_functions
),

database_statistics as (
    select * from pg_catalog.pg_stat_database
    where datname = current_database()
),

joined as (
    select
        linkage_functions.function_name,
        linkage_functions.function_arguments,
        linkage_functions.is_trigger_function,
        linkage_functions.is_plpgsql,
        coalesce(function_statistics.calls, 0)::bigint as calls,
        coalesce(function_statistics.total_time, 0)::double precision as total_time_ms,
        coalesce(function_statistics.self_time, 0)::double precision as self_time_ms
    from linkage_functions
    left join function_statistics
        on linkage_functions.function_oid = function_statistics.funcid
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
        database_statistics.stats_reset
    from joined
    cross join database_statistics
)

select * from per_call
