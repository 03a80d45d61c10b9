-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    oid as function_oid,
    proname::text as function_name,
    pronamespace as schema_oid,
    prolang as language_oid,
    pg_catalog.pg_get_function_identity_arguments(oid) as function_arguments,
    prorettype = 'pg_catalog.trigger'::pg_catalog.regtype as is_trigger_function
from {{ source('pg_catalog', 'pg_proc') }}
