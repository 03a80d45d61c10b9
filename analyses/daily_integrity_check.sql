-- The runbook's daily check from the models: integrity figures, 24-hour trigger success rate and
-- today's backfill activity in one row (run after `dbt run`).

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
),

success_rate as (
    select * from {{ ref('link_success_rate_24h') }}
),

backfills as (
    select * from {{ ref('backfill_activity_daily') }}
),

backfills_today as (
    select
        coalesce(sum(backfill_operations), 0) as backfill_links_today,
        coalesce(sum(guests_backfilled), 0) as guests_backfilled_today
    from backfills
    where activity_date = (now() at time zone 'UTC')::date
),

daily_check as (
    select
        integrity.check_timestamp,
        integrity.total_deliveries,
        integrity.inconsistent_deliveries,
        integrity.inconsistency_percentage,
        integrity.conflicting_deliveries,
        integrity.health_status,
        success_rate.total_attempts as attempts_24h,
        success_rate.successful_links as linked_24h,
        success_rate.success_rate as success_rate_24h,
        backfills_today.backfill_links_today,
        backfills_today.guests_backfilled_today
    from integrity
    cross join success_rate
    cross join backfills_today
)

select * from daily_check
