-- Every delivery with its guest, its message's event and its delivery category: the one place a
-- delivery is put in a category (macro linkage_categorized_columns over linkage_delivery_category,
-- the list in linkage_delivery_categories). Reads every delivery: the per-build category counts
-- (int_delivery_categories__counted), delivery_link_status and delivery_link_conflicts read it; the
-- hourly figures find the defects without it (int_message_deliveries__defective).

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

queue as (
    select * from {{ ref('stg_linkage_private__guest_link_queue') }}
),

queued_guests as (
    {{ linkage_queued_guests('queue') }}
),

categorized as (
    select
        {{ linkage_categorized_columns('deliveries', 'guests', 'messages', 'queued_guests') }}
    from deliveries
    left join guests
        on deliveries.guest_id = guests.guest_id
    left join messages
        on deliveries.message_id = messages.message_id
    left join queued_guests
        on deliveries.guest_id = queued_guests.guest_id
)

select * from categorized
