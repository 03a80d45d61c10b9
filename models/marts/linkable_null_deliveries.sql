-- The runbook's debugging query: deliveries with no user although their guest is active and
-- linked (the defect), with whether the delivery predates the guest's last change (its link).

with

link_status as (
    select * from {{ ref('delivery_link_status') }}
),

linkable_null as (
    select
        delivery_id,
        guest_id,
        guest_name,
        guest_user_id,
        delivery_user_id,
        event_id,
        delivery_created_at,
        guest_updated_at,
        case
            when delivery_created_at < guest_updated_at then 'delivery_before_guest_link'
            else 'delivery_after_guest_link'
        end as timing
    from link_status
    -- delivery_user_id is null is implied by the status; spelled out so the partial index is used
    where delivery_user_id is null
        and link_status = 'linkable_null'
)

select * from linkable_null
