-- The app team's own model on top of the package's mart: today's linkage health in their words.

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
),

health as (
    select
        integrity.check_timestamp as checked_at,
        integrity.health_status,
        integrity.inconsistency_percentage,
        integrity.critical_pct,
        integrity.inconsistent_deliveries,
        integrity.total_deliveries,
        integrity.health_status <> 'critical' as within_threshold
    from integrity
)

select * from health
