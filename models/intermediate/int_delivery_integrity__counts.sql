-- Every integrity count in one pass over the deliveries: each delivery joined to its guest (hash
-- join), counted into the project's figures and the runbook's (the original daily script's) at
-- once. The same plan as the runbook's own daily query (bench/runbook_daily_query.sql): one scan of
-- message_deliveries, one of event_guests. Definitions identical to delivery_link_status
-- (reconciled by the test assert_integrity_counts_match_link_status).
--
-- count(column) counts the rows where the column is not NULL: with a left join, count(guests.guest_id)
-- counts the deliveries whose guest exists and count(guests.user_id) those whose guest has a user.
-- Counting them this way, rather than with longer FILTER conditions, keeps the pass as fast as the
-- runbook's query although it yields two more figures.

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
        count(guests.guest_id) as deliveries_with_guest,
        count(*) filter (
            where deliveries.user_id is null and guests.is_linkable
        ) as inconsistent_deliveries,
        count(*) filter (
            where deliveries.user_id = guests.user_id
        ) as consistent_deliveries,
        count(*) filter (
            where deliveries.user_id <> guests.user_id
        ) as conflicting_deliveries,
        count(guests.guest_id) filter (
            where deliveries.user_id is null
        ) as unlinked_deliveries_with_guest,
        count(guests.user_id) filter (
            where deliveries.user_id is null
        ) as unlinked_deliveries_with_guest_user
    from deliveries
    left join guests
        on deliveries.guest_id = guests.guest_id
),

figures as (
    select
        check_timestamp,
        total_deliveries,
        inconsistent_deliveries,
        consistent_deliveries,
        unlinked_deliveries_with_guest - unlinked_deliveries_with_guest_user as both_null_deliveries,
        conflicting_deliveries,
        deliveries_with_guest as runbook_total_deliveries,
        unlinked_deliveries_with_guest_user as runbook_inconsistent_deliveries
    from counts
)

select * from figures
