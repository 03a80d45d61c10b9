-- The runbook's daily check in one row, computed when read (a view): what `linkage check` and
-- scripts/daily-delivery-integrity-check.sql report. The integrity figures and statuses
-- (int_delivery_integrity__assessed), the 24-hour activity (int_user_link_audit__last_24h), the
-- linkage's missing feature-flag rows and the audit rows the deploy could not write.

with

integrity as (
    select * from {{ ref('int_delivery_integrity__assessed') }}
),

activity as (
    select * from {{ ref('int_user_link_audit__last_24h') }}
),

feature_flags as (
    select * from {{ ref('linkage_feature_flags') }}
),

audit_write_failures as (
    select * from {{ ref('stg_linkage_private__audit_write_failures') }}
),

missing_flags as (
    select
        coalesce(
            array_agg(flag_name order by flag_name) filter (where not is_present),
            '{}'::text []
        ) as missing_feature_flags
    from feature_flags
),

failure_counts as (
    select
        count(*) as audit_write_failures,
        max(created_at) as last_audit_write_failure_at
    from audit_write_failures
),

daily_check as (
    select
        integrity.check_timestamp,
        integrity.total_deliveries,
        integrity.inconsistent_deliveries,
        integrity.consistent_deliveries,
        integrity.both_null_deliveries,
        integrity.conflicting_deliveries,
        integrity.inconsistency_percentage,
        integrity.health_status,
        integrity.critical_pct,
        integrity.runbook_total_deliveries,
        integrity.runbook_inconsistent_deliveries,
        integrity.runbook_inconsistency_percentage,
        integrity.runbook_alert_status,
        integrity.runbook_health_status,
        activity.total_attempts as attempts_24h,
        activity.successful_links as linked_24h,
        activity.success_rate as success_rate_24h,
        activity.backfill_links as backfill_links_24h,
        activity.guests_backfilled as backfilled_guests_24h,
        missing_flags.missing_feature_flags,
        failure_counts.audit_write_failures,
        failure_counts.last_audit_write_failure_at
    from integrity
    cross join activity
    cross join missing_flags
    cross join failure_counts
)

select * from daily_check
