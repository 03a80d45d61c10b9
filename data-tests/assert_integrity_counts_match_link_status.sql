-- Error: delivery_integrity's fast counts equal the counts of delivery_link_status's statuses.
-- Reads every delivery (tag full_scan).

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
),

link_status as (
    select * from {{ ref('delivery_link_status') }}
),

status_counts as (
    select
        count(*) as total_deliveries,
        count(*) filter (where link_status = 'linkable_null') as inconsistent_deliveries,
        count(*) filter (where link_status = 'consistent') as consistent_deliveries,
        count(*) filter (
            where link_status = 'unlinked' and delivery_user_id is null and guest_user_id is null
        ) as both_null_deliveries,
        count(*) filter (where link_status = 'conflict') as conflicting_deliveries
    from link_status
),

mismatches as (
    select
        integrity.total_deliveries as integrity_total,
        status_counts.total_deliveries as status_total,
        integrity.inconsistent_deliveries as integrity_inconsistent,
        status_counts.inconsistent_deliveries as status_inconsistent,
        integrity.consistent_deliveries as integrity_consistent,
        status_counts.consistent_deliveries as status_consistent,
        integrity.both_null_deliveries as integrity_both_null,
        status_counts.both_null_deliveries as status_both_null,
        integrity.conflicting_deliveries as integrity_conflicting,
        status_counts.conflicting_deliveries as status_conflicting
    from integrity
    cross join status_counts
    where (
        integrity.total_deliveries,
        integrity.inconsistent_deliveries,
        integrity.consistent_deliveries,
        integrity.both_null_deliveries,
        integrity.conflicting_deliveries
    ) is distinct from (
        status_counts.total_deliveries,
        status_counts.inconsistent_deliveries,
        status_counts.consistent_deliveries,
        status_counts.both_null_deliveries,
        status_counts.conflicting_deliveries
    )
)

select * from mismatches
