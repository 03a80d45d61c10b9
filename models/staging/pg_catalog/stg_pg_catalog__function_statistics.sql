with

source as (
    select * from {{ source('pg_catalog', 'pg_stat_user_functions') }}
),

renamed as (
    select
        funcid as function_oid,
        calls::bigint as calls,
        total_time::double precision as total_time_ms,
        self_time::double precision as self_time_ms
    from source
)

select * from renamed
