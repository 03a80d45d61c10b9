-- The runbook's debugging query, in the project's terms: the defective deliveries (delivery
-- categories marked is_defect: no user although their guest is active, linked and of the message's
-- event), with whether the delivery predates the guest's last change (its link).

{%- set defects = linkage_delivery_categories() | selectattr('is_defect') | map(attribute='name') | list %}

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
),

events as (
    select * from {{ ref('stg_app__events') }}
),

linkable_null as (
    select
        categorized.delivery_id,
        categorized.guest_id,
        categorized.guest_name,
        categorized.guest_user_id,
        categorized.delivery_user_id,
        categorized.event_id,
        categorized.delivery_created_at,
        categorized.guest_updated_at,
        case
            when categorized.delivery_created_at < categorized.guest_updated_at then 'delivery_before_guest_link'
            else 'delivery_after_guest_link'
        end as timing,
        events.event_title
    from categorized
    left join events
        on categorized.event_id = events.event_id
    -- delivery_user_id is null is implied by the categories; spelled out so the partial index is used
    where categorized.delivery_user_id is null
        and categorized.delivery_category in ('{{ defects | join("', '") }}')
)

select * from linkable_null
