-- One row per delivery: its guest, its event, both users, and its delivery category (the list in
-- macro linkage_delivery_categories, each delivery in exactly one).
-- Filters on delivery_user_id / guest_user_id reach the app tables' indexes (views are inlined).

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
),

link_status as (
    select
        delivery_id,
        message_id,
        guest_id,
        event_id,
        delivery_user_id,
        guest_user_id,
        guest_exists,
        guest_is_active,
        guest_name,
        delivery_created_at,
        guest_updated_at,
        delivery_category,
        guest_is_linkable
    from categorized
)

select * from link_status
