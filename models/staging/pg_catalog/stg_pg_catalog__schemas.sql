with

source as (
    select * from {{ source('pg_catalog', 'pg_namespace') }}
),

renamed as (
    select
        oid as schema_oid,
        nspname::text as schema_name
    from source
)

select * from renamed
