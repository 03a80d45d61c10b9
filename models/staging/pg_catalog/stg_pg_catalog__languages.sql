with

source as (
    select * from {{ source('pg_catalog', 'pg_language') }}
),

renamed as (
    select
        oid as language_oid,
        lanname::text as language_name
    from source
)

select * from renamed
