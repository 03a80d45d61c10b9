-- The defective deliveries (the delivery categories marked is_defect) without reading every delivery:
-- a defect has no user and a linkable guest (active, linked), so only the deliveries without a user
-- of linkable guests are looked at, through the deploy's partial index on deliveries without a user
-- (message_deliveries_unlinked_guest_id_idx: guest_id where user_id is null), and categorized by the
-- one rule (macro linkage_categorized_deliveries), the same query as int_message_deliveries__categorized.
-- Costs one index probe per linkable guest and one row per delivery found, whatever the number of
-- deliveries. Each dbt build checks it against the categories counted over every delivery
-- (assert_fast_integrity_figures_match_the_categories on delivery_integrity_history).

{%- set defects = linkage_delivery_categories() | selectattr('is_defect') | map(attribute='name') | list %}

with

deliveries as not materialized (
    select * from {{ ref('stg_app__message_deliveries') }}
),

guests as not materialized (
    select * from {{ ref('stg_app__event_guests') }}
),

messages as (
    select * from {{ ref('stg_app__messages') }}
),

queue as (
    select * from {{ ref('stg_linkage_private__guest_link_queue') }}
),

linkable_guests as (
    select guest_id
    from guests
    where is_linkable
),

-- one probe each into the partial index (or, where the planner finds it cheaper, one pass over it)
linkable_guests_with_unlinked_deliveries as (
    select linkable_guests.guest_id
    from linkable_guests
    where linkable_guests.guest_id in (
            select deliveries.guest_id
            from deliveries
            where deliveries.user_id is null
        )
),

-- an array, so that the planner looks these few guests up in the partial index rather than join
-- every delivery without a user
unlinked_deliveries as (
    select deliveries.*
    from deliveries
    where deliveries.user_id is null
        and deliveries.guest_id = any(array(
            select linkable_guests_with_unlinked_deliveries.guest_id
            from linkable_guests_with_unlinked_deliveries
        ))
),

categorized as (
    {{ linkage_categorized_deliveries('unlinked_deliveries') }}
),

defective as (
    select *
    from categorized
    where delivery_category in ('{{ defects | join("', '") }}')
)

select * from defective
