-- Deliveries linked to a user other than their guest's current user (category linked_to_other_user):
-- not a defect (the linkage never overwrites a user), listed for a look.

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
),

events as (
    select * from {{ ref('stg_app__events') }}
),

conflicts as (
    select
        categorized.delivery_id,
        categorized.guest_id,
        categorized.event_id,
        categorized.delivery_user_id,
        categorized.guest_user_id,
        categorized.guest_is_active,
        categorized.delivery_created_at,
        categorized.guest_updated_at,
        categorized.guest_name,
        events.event_title
    from categorized
    left join events
        on categorized.event_id = events.event_id
    where categorized.delivery_user_id is not null
        and categorized.delivery_category = 'linked_to_other_user'
)

select * from conflicts
