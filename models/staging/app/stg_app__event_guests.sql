-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    source.id as guest_id,
    source.event_id,
    source.user_id,
    source.phone,
    source.guest_name,
    source.removed_at,
    source.created_at,
    source.updated_at,
    {{ linkage_guest_is_active('source') }} as is_active,
    {{ linkage_guest_is_linkable('source') }} as is_linkable
from {{ source('app', 'event_guests') }} as source
