-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

-- pg_description holds the comments of every kind of object: only functions' own comments here.

select
    objoid as function_oid,
    description as function_comment
from {{ source('pg_catalog', 'pg_description') }}
where
    classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    and objsubid = 0
