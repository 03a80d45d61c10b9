-- Deliveries linked to a user other than their guest's current user.

with

link_status as (
    select * from {{ ref('delivery_link_status') }}
),

conflicts as (
    select
        delivery_id,
        guest_id,
        event_id,
        delivery_user_id,
        guest_user_id,
        guest_is_active,
        delivery_created_at,
        guest_updated_at
    from link_status
    where delivery_user_id is not null
        and guest_user_id is not null
        and link_status = 'conflict'
)

select * from conflicts
