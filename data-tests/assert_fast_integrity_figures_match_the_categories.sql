-- Error: the hourly figures (found through the indexes: int_delivery_integrity__counts) differ from
-- the same figures counted over every delivery by category (int_delivery_categories__counted), both
-- computed in one statement by the last run of delivery_integrity_history. Reads that one row, no
-- delivery. Returns one row per figure that differs.

with

last_counted as (
    select * from {{ ref('int_delivery_integrity__last_counted') }}
),

figures as (
    select
        'total_deliveries' as figure,
        total_deliveries as fast_count,
        categorized_total_deliveries as categorized_count
    from last_counted
    union all
    select
        'inconsistent_deliveries' as figure,
        inconsistent_deliveries as fast_count,
        categorized_inconsistent_deliveries as categorized_count
    from last_counted
),

mismatches as (
    select
        figure,
        fast_count,
        categorized_count
    from figures
    where fast_count is distinct from categorized_count
)

select * from mismatches
