-- The runbook's debugging query, in the project's terms: the defective deliveries (delivery
-- categories marked is_defect: no user although their guest is active, linked and of the message's
-- event), with whether the delivery predates the guest's last change (its link).

{%- set defects = linkage_delivery_categories() | selectattr('is_defect') | map(attribute='name') | list %}

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
),

linkable_null as (
    select
        delivery_id,
        guest_id,
        guest_name,
        guest_user_id,
        delivery_user_id,
        event_id,
        delivery_created_at,
        guest_updated_at,
        case
            when delivery_created_at < guest_updated_at then 'delivery_before_guest_link'
            else 'delivery_after_guest_link'
        end as timing
    from categorized
    -- delivery_user_id is null is implied by the categories; spelled out so the partial index is used
    where delivery_user_id is null
        and delivery_category in ('{{ defects | join("', '") }}')
)

select * from linkable_null
