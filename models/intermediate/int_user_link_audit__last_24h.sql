-- The runbook's activity figures over the last 24 hours, one row: trigger attempts and links (the
-- insert/update triggers, table_name message_deliveries) with their success rate, and backfill
-- links (table_name message_deliveries_backfill) with the guests they were for. The one definition
-- read by link_success_rate_24h and daily_integrity_check.

with

audit as (
    select * from {{ ref('int_user_link_audit__classified') }}
),

window_bounds as (
    select
        now() - interval '24 hours' as window_start,
        now() as window_end
),

recent as (
    select
        audit.table_name,
        audit.is_linked,
        audit.matched_guest_id
    from audit
    cross join window_bounds
    where audit.created_at >= window_bounds.window_start
),

activity as (
    select
        count(*) filter (where table_name = 'message_deliveries') as total_attempts,
        count(*) filter (where table_name = 'message_deliveries' and is_linked) as successful_links,
        count(*) filter (where table_name = 'message_deliveries_backfill' and is_linked) as backfill_links,
        count(distinct matched_guest_id) filter (
            where table_name = 'message_deliveries_backfill' and is_linked
        ) as guests_backfilled
    from recent
),

rated as (
    select
        window_bounds.window_start,
        window_bounds.window_end,
        activity.total_attempts,
        activity.successful_links,
        case
            when activity.total_attempts > 0
                then round(activity.successful_links::numeric / activity.total_attempts, 4)::numeric(5, 4)
        end as success_rate,
        activity.backfill_links,
        activity.guests_backfilled
    from window_bounds
    cross join activity
)

select * from rated
