-- Runbook debugging query 1: deliveries with no user although their guest is active and linked,
-- newest first, with whether the delivery predates the guest's link.
-- dbt compile --select find_linkable_null_deliveries, then run the compiled SQL.

with

deliveries as (
    select * from {{ source('app', 'message_deliveries') }}
),

guests as (
    select * from {{ source('app', 'event_guests') }}
),

linkable_null as (
    select
        deliveries.id as delivery_id,
        deliveries.guest_id,
        guests.guest_name,
        guests.user_id as guest_user_id,
        deliveries.user_id as delivery_user_id,
        guests.event_id,
        deliveries.created_at as delivery_created_at,
        guests.updated_at as guest_updated_at,
        case
            when deliveries.created_at < guests.updated_at then 'delivery_before_guest_link'
            else 'delivery_after_guest_link'
        end as timing
    from deliveries
    inner join guests
        on deliveries.guest_id = guests.id
    where deliveries.user_id is null
        and guests.user_id is not null
        and guests.removed_at is null
)

select * from linkable_null
order by delivery_created_at desc
limit 100
