-- The row of the last run of delivery_integrity_history (each dbt build): the delivery categories as
-- last counted over every delivery, beside the hourly figures computed in the same statement. No row
-- before the first run. delivery_integrity shows it; the data tests that check that run read it.

with

history as (
    select * from {{ ref('delivery_integrity_history') }}
),

last_counted as (
    select *
    from history
    order by check_timestamp desc
    limit 1
)

select * from last_counted
