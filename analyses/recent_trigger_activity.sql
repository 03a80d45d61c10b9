-- Runbook debugging query 2: what the insert/update trigger decided in the last hour, newest first.

with

audit as (
    select * from {{ ref('int_user_link_audit__classified') }}
),

recent as (
    select
        created_at,
        outcome,
        reason,
        delivery_id,
        linked_user_id,
        candidate_count,
        matched_guest_id,
        event_id,
        phone_fallback_enabled
    from audit
    where table_name = 'message_deliveries'
        and created_at >= now() - interval '1 hour'
)

select * from recent
order by created_at desc
limit 100
