with

source as (
    select * from {{ source('pg_catalog', 'pg_proc') }}
),

renamed as (
    select
        oid as function_oid,
        proname::text as function_name,
        pronamespace as schema_oid,
        prolang as language_oid,
        pg_catalog.pg_get_function_identity_arguments(oid) as function_arguments,
        prorettype = 'pg_catalog.trigger'::pg_catalog.regtype as is_trigger_function
    from source
)

select * from renamed
