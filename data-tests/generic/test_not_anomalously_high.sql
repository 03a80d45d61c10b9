{#
    not_anomalously_high(model, column_name, timestamp_column, trailing_days, stddevs, min_points):
    fails (returns one row) when the latest value of column_name is more than `stddevs` standard
    deviations above the mean of the values measured in the `trailing_days` days before it. Needs
    at least `min_points` earlier values; with a constant trailing series (standard deviation 0) any
    rise counts. Meant for a history model with one row per measurement.
#}
{% test not_anomalously_high(model, column_name, timestamp_column, trailing_days=14, stddevs=3, min_points=3) %}

with

measurements as (
    select
        {{ timestamp_column }} as measured_at,
        {{ column_name }} as measured_value
    from {{ model }}
    where {{ column_name }} is not null
        and {{ timestamp_column }} is not null
),

latest as (
    select
        measured_at,
        measured_value
    from measurements
    order by measured_at desc
    limit 1
),

baseline as (
    select
        avg(measurements.measured_value) as trailing_mean,
        coalesce(stddev_samp(measurements.measured_value), 0) as trailing_stddev,
        count(*) as trailing_points
    from measurements
    cross join latest
    where measurements.measured_at < latest.measured_at
        and measurements.measured_at >= latest.measured_at - interval '{{ trailing_days | int }} days'
),

judged as (
    select
        latest.measured_at,
        latest.measured_value,
        baseline.trailing_mean,
        baseline.trailing_stddev,
        baseline.trailing_points,
        baseline.trailing_mean + {{ stddevs }} * baseline.trailing_stddev as upper_bound
    from latest
    cross join baseline
)

select * from judged
where trailing_points >= {{ min_points | int }}
    and measured_value > upper_bound

{% endtest %}
