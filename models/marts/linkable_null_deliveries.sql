-- The runbook's debugging query, in the project's terms: the defective deliveries (delivery
-- categories marked is_defect: no user although their guest is active, linked and of the message's
-- event), with whether the delivery predates the guest's last change (its link). Found through the
-- partial index on deliveries without a user (int_message_deliveries__defective): cheap at any size.

with

defective as (
    select * from {{ ref('int_message_deliveries__defective') }}
),

events as (
    select * from {{ ref('stg_app__events') }}
),

linkable_null as (
    select
        defective.delivery_id,
        defective.guest_id,
        defective.guest_name,
        defective.guest_user_id,
        defective.delivery_user_id,
        defective.event_id,
        defective.delivery_created_at,
        defective.guest_updated_at,
        case
            when defective.delivery_created_at < defective.guest_updated_at then 'delivery_before_guest_link'
            else 'delivery_after_guest_link'
        end as timing,
        events.event_title
    from defective
    left join events
        on defective.event_id = events.event_id
)

select * from linkable_null
