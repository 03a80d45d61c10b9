-- Every delivery with its guest, its message's event and its delivery category: the one place a
-- delivery is put in a category (macro linkage_categorized_deliveries over linkage_delivery_category,
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

categorized as (
    {{ linkage_categorized_deliveries('deliveries') }}
)

select * from categorized
