with

source as (
    select * from {{ source('pg_catalog', 'pg_stat_database') }}
),

renamed as (
    select
        datname::text as database_name,
        stats_reset
    from source
    where datname = pg_catalog.current_database()
)

select * from renamed
