-- Every integrity count in one pass over the deliveries: each delivery joined to its guest (hash
-- join), counted into the project's figures and the runbook's (the original daily script's) at
-- once. The same plan as the runbook's own daily query (bench/runbook_daily_query.sql): one scan of
-- message_deliveries, one of event_guests. Definitions identical to delivery_link_status
-- (reconciled by the test assert_integrity_counts_match_link_status).

with

deliveries as (
    select * from {{ ref('stg_app__message_deliveries') }}
),

guests as (
    select * from {{ ref('stg_app__event_guests') }}
),

counts as (
    select
        now() as check_timestamp,
        count(*) as total_deliveries,
        count(*) filter (
            where deliveries.user_id is null and guests.is_linkable
        ) as inconsistent_deliveries,
        count(*) filter (
            where deliveries.user_id = guests.user_id
        ) as consistent_deliveries,
        count(*) filter (
            where deliveries.user_id is null and guests.guest_id is not null and guests.user_id is null
        ) as both_null_deliveries,
        count(*) filter (
            where deliveries.user_id <> guests.user_id
        ) as conflicting_deliveries,
        count(guests.guest_id) as runbook_total_deliveries,
        count(*) filter (
            where deliveries.user_id is null and guests.user_id is not null
        ) as runbook_inconsistent_deliveries
    from deliveries
    left join guests
        on deliveries.guest_id = guests.guest_id
)

select * from counts
