-- Every delivery with its guest, its message's event and its delivery category: the one place a
-- delivery is put in a category (macro linkage_delivery_category, the list in
-- linkage_delivery_categories). The integrity counts, delivery_link_status and the lists of
-- defective deliveries read it.

with

deliveries as (
    select * from {{ ref('stg_app__message_deliveries') }}
),

guests as (
    select * from {{ ref('stg_app__event_guests') }}
),

messages as (
    select * from {{ ref('stg_app__messages') }}
),

categorized as (
    select
        deliveries.delivery_id,
        deliveries.message_id,
        deliveries.guest_id,
        coalesce(guests.event_id, messages.event_id) as event_id,
        messages.event_id as message_event_id,
        deliveries.user_id as delivery_user_id,
        guests.user_id as guest_user_id,
        guests.guest_id is not null as guest_exists,
        coalesce(guests.is_active, false) as guest_is_active,
        coalesce(guests.is_linkable, false) as guest_is_linkable,
        guests.guest_name,
        deliveries.created_at as delivery_created_at,
        guests.updated_at as guest_updated_at,
        {{ linkage_delivery_category('deliveries', 'guests', 'messages') }} as delivery_category
    from deliveries
    left join guests
        on deliveries.guest_id = guests.guest_id
    left join messages
        on deliveries.message_id = messages.message_id
)

select * from categorized
