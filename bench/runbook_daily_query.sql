-- The daily integrity check written the straightforward way: one count over the join of every
-- delivery with its guest and its message. The benchmark's reference for the delivery_integrity
-- model (the total, the eight delivery categories and the defects, asserted identical; the
-- categories' definition is macros/metrics/linkage_delivery_categories.sql). Plain SQL against the
-- app schema (found through search_path).
select
    count(*) as total_deliveries,
    count(*) filter (
        where d.user_id is null and g.user_id is not null and g.removed_at is null
            and (m.event_id is null or m.event_id = g.event_id)
    ) as inconsistent_deliveries,
    count(*) filter (where d.user_id = g.user_id) as linked_to_guest_user,
    count(*) filter (where d.user_id <> g.user_id or (d.user_id is not null and g.id is not null and g.user_id is null))
        as linked_to_other_user,
    count(*) filter (where d.user_id is not null and g.id is null) as linked_without_guest,
    count(*) filter (
        where d.user_id is null and g.user_id is not null and g.removed_at is null
            and (m.event_id is null or m.event_id = g.event_id)
    ) as linkable_null,
    count(*) filter (
        where d.user_id is null and g.id is not null and g.user_id is null and g.removed_at is null
            and (m.event_id is null or m.event_id = g.event_id)
    ) as null_guest_not_linked,
    count(*) filter (where d.user_id is null and g.removed_at is not null) as null_guest_removed,
    count(*) filter (where d.user_id is null and g.removed_at is null and m.event_id <> g.event_id)
        as null_guest_other_event,
    count(*) filter (where d.user_id is null and g.id is null) as null_without_guest
from message_deliveries as d
left join event_guests as g on g.id = d.guest_id
left join messages as m on m.id = d.message_id
