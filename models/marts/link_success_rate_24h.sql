-- The runbook's metric 2: trigger success rate over the last 24 hours, i.e. linked attempts over
-- all attempts audited with table_name = 'message_deliveries' (insert and update triggers).

with

activity as (
    select * from {{ ref('int_user_link_audit__last_24h') }}
),

rated as (
    select
        window_start,
        window_end,
        total_attempts,
        successful_links,
        success_rate
    from activity
)

select * from rated
