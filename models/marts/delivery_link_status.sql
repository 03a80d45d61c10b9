-- One row per delivery: its guest, its event, both users, and whether the link is right.
-- Filters on delivery_user_id / guest_user_id reach the app tables' indexes (views are inlined).

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

joined as (
    select
        deliveries.delivery_id,
        deliveries.message_id,
        deliveries.guest_id,
        coalesce(guests.event_id, messages.event_id) as event_id,
        deliveries.user_id as delivery_user_id,
        guests.user_id as guest_user_id,
        guests.guest_id is not null as guest_exists,
        coalesce(guests.is_active, false) as guest_is_active,
        coalesce(guests.is_linkable, false) as guest_is_linkable,
        guests.guest_name,
        deliveries.created_at as delivery_created_at,
        guests.updated_at as guest_updated_at
    from deliveries
    left join guests
        on deliveries.guest_id = guests.guest_id
    left join messages
        on deliveries.message_id = messages.message_id
),

classified as (
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
        case
            when not guest_exists then 'no_guest'
            when delivery_user_id = guest_user_id then 'consistent'
            when delivery_user_id <> guest_user_id then 'conflict'
            when delivery_user_id is null and guest_is_linkable then 'linkable_null'
            else 'unlinked'
        end as link_status,
        guest_is_linkable
    from joined
)

select * from classified
