-- One row per day, for the semantic layer (MetricFlow's time spine): from the first day the project
-- could have data to a year ahead.

with

days as (
    select generate_series(
        '2024-01-01'::date,
        (current_date + interval '1 year')::date,
        interval '1 day'
    )::date as date_day
)

select * from days
