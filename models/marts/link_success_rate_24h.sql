-- The runbook's metric 2: trigger success rate over the last 24 hours, i.e. linked attempts over
-- all attempts audited with table_name = 'message_deliveries' (insert and update triggers).

with

audit as (
    select * from {{ ref('int_user_link_audit__classified') }}
),

recent_attempts as (
    select
        count(*) as total_attempts,
        count(*) filter (where is_linked) as successful_links
    from audit
    where table_name = 'message_deliveries'
        and created_at >= now() - interval '24 hours'
),

rated as (
    select
        now() - interval '24 hours' as window_start,
        now() as window_end,
        total_attempts,
        successful_links,
        case
            when total_attempts > 0 then round(successful_links::numeric / total_attempts, 4)::numeric(5, 4)
        end as success_rate
    from recent_attempts
)

select * from rated
