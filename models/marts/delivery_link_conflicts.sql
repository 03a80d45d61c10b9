-- Deliveries linked to a user other than their guest's current user (category linked_to_other_user):
-- not a defect (the linkage never overwrites a user), listed for a look.

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
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
    from categorized
    where delivery_user_id is not null
        and delivery_category = 'linked_to_other_user'
)

select * from conflicts
