-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    id as guest_id,
    event_id,
    user_id,
    phone,
    guest_name,
    removed_at,
    created_at,
    updated_at,
    {{ linkage_guest_is_active() }} as is_active,
    {{ linkage_guest_is_linkable() }} as is_linkable
from {{ source('app', 'event_guests') }}
