-- The hourly integrity counts, one row, at a small part of the cost of reading every delivery: the
-- total (a count the planner answers from the smallest index of message_deliveries, an index-only
-- scan) and the defects (int_message_deliveries__defective: only the deliveries without a user of
-- linkable guests, through the partial index on deliveries without a user). The same figures as the
-- categories counted over every delivery (int_delivery_categories__counted): each run of
-- delivery_integrity_history computes both in one statement, and a test compares them.

with

deliveries as (
    select * from {{ ref('stg_app__message_deliveries') }}
),

defective as (
    select * from {{ ref('int_message_deliveries__defective') }}
),

totals as (
    select count(*) as total_deliveries
    from deliveries
),

defects as (
    select count(*) as inconsistent_deliveries
    from defective
),

counts as (
    select
        now() as check_timestamp,
        totals.total_deliveries,
        defects.inconsistent_deliveries
    from totals
    cross join defects
)

select * from counts
