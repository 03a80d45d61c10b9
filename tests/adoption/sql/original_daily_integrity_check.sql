-- The original system's daily integrity check (the app's scripts/daily-delivery-integrity-check.sql),
-- its main query and its alert conditions, transcribed as one query returning one row.
--
--   total_deliveries      deliveries that have a guest row (inner join: no guest, not counted; a removed
--                         guest still counts)
--   inconsistent          delivery without a user while its guest has one
--   consistent            both set and equal
--   both_null             neither set
--   percentage            100 * inconsistent / total, 2 decimals, NULL when there is no delivery
--   health_status         HEALTHY (0 inconsistent), MINOR_ISSUES (1 or 2), NEEDS_ATTENTION (more):
--                         the script's labels, without their emoji
--   alert                 its closing block: 'critical' (the WARNING: rate above 1.0 %), 'minor' (the
--                         NOTICE: any inconsistent delivery), 'none'
with integrity as (
    select
        count(*) as total_deliveries,
        count(case when d.user_id is null and g.user_id is not null then 1 end) as inconsistent,
        count(case when d.user_id is not null and g.user_id is not null and d.user_id = g.user_id then 1 end)
            as consistent,
        count(case when d.user_id is null and g.user_id is null then 1 end) as both_null
    from public.message_deliveries as d
    inner join public.event_guests as g on g.id = d.guest_id
)

select
    total_deliveries,
    inconsistent,
    consistent,
    both_null,
    round(100.0 * inconsistent / nullif(total_deliveries, 0), 2) as percentage,
    case
        when inconsistent = 0 then 'HEALTHY'
        when inconsistent <= 2 then 'MINOR_ISSUES'
        else 'NEEDS_ATTENTION'
    end as health_status,
    case
        when round(100.0 * inconsistent / nullif(total_deliveries, 0), 2) > 1.0 then 'critical'
        when inconsistent > 0 then 'minor'
        else 'none'
    end as alert
from integrity
