-- The linkage's functions (trigger functions included): every function the deploy created and
-- commented ('delivery_linkage: …'), in the app schema (the runbook's names) or the linkage's
-- private schema (its machinery).

with

functions as (
    select * from {{ ref('stg_pg_catalog__functions') }}
),

schemas as (
    select * from {{ ref('stg_pg_catalog__schemas') }}
),

languages as (
    select * from {{ ref('stg_pg_catalog__languages') }}
),

function_comments as (
    select * from {{ ref('stg_pg_catalog__function_comments') }}
),

identified as (
    select
        functions.function_oid,
        schemas.schema_name as function_schema,
        functions.function_name,
        functions.function_arguments,
        functions.is_trigger_function,
        languages.language_name = 'plpgsql' as is_plpgsql
    from functions
    inner join schemas
        on functions.schema_oid = schemas.schema_oid
    inner join languages
        on functions.language_oid = languages.language_oid
    inner join function_comments
        on functions.function_oid = function_comments.function_oid
    where
        schemas.schema_name in (
            '{{ var("linkage_app_schema", "public") }}',
            '{{ var("linkage_private_schema", "delivery_linkage") }}'
        )
        and function_comments.function_comment like 'delivery_linkage:%'
)

select * from identified
