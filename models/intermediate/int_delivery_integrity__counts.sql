-- The integrity counts without classifying every delivery: a count(*) for the total, the
-- NULL-user deliveries only (partial indexes on user_id is null) for the linkable-but-NULL and
-- both-NULL counts, and one hash join of the linked deliveries to the linked guests for the
-- consistent and conflicting counts. Same definitions as delivery_link_status (reconciled by the
-- test assert_integrity_counts_match_link_status). The import CTEs are read several times: NOT
-- MATERIALIZED keeps PostgreSQL from copying the whole tables into them, so each reference gets
-- its own plan (index scans on the partial indexes, one hash join).

with

deliveries as not materialized (
    select * from {{ ref('stg_app__message_deliveries') }}
),

guests as not materialized (
    select * from {{ ref('stg_app__event_guests') }}
),

delivery_totals as (
    select count(*) as total_deliveries
    from deliveries
),

unlinked_delivery_counts as (
    select
        count(*) filter (
            where guests.user_id is not null and guests.removed_at is null
        ) as inconsistent_deliveries,
        count(*) filter (
            where guests.user_id is null
        ) as both_null_deliveries
    from deliveries
    inner join guests
        on deliveries.guest_id = guests.guest_id
    where deliveries.user_id is null
),

linked_delivery_counts as (
    select
        count(*) filter (
            where guests.user_id = deliveries.user_id
        ) as consistent_deliveries,
        count(*) filter (
            where guests.user_id <> deliveries.user_id
        ) as conflicting_deliveries
    from deliveries
    inner join guests
        on deliveries.guest_id = guests.guest_id
    where deliveries.user_id is not null
        and guests.user_id is not null
),

combined as (
    select
        delivery_totals.total_deliveries,
        unlinked_delivery_counts.inconsistent_deliveries,
        linked_delivery_counts.consistent_deliveries,
        unlinked_delivery_counts.both_null_deliveries,
        linked_delivery_counts.conflicting_deliveries
    from delivery_totals
    cross join unlinked_delivery_counts
    cross join linked_delivery_counts
)

select * from combined
