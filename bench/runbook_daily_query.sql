-- The runbook's daily integrity check written the straightforward way: one count over the join of
-- every delivery with its guest. The benchmark's reference for the delivery_integrity model (same
-- five figures, asserted identical). Plain SQL against the app schema (found through search_path).
select
    count(*) as total_deliveries,
    count(*) filter (
        where d.user_id is null and g.user_id is not null and g.removed_at is null
    ) as inconsistent_deliveries,
    count(*) filter (where d.user_id = g.user_id) as consistent_deliveries,
    count(*) filter (where d.user_id is null and g.id is not null and g.user_id is null) as both_null_deliveries,
    count(*) filter (where d.user_id <> g.user_id) as conflicting_deliveries
from message_deliveries as d
left join event_guests as g on g.id = d.guest_id
