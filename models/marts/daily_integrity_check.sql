-- The runbook's daily check in one row, computed when read (a view): what `linkage check` and
-- scripts/daily-delivery-integrity-check.sql report, and what the report's badge shows. The integrity
-- figures (delivery_integrity: computed now, the categories as of the last dbt build), the 24-hour
-- activity (int_user_link_audit__last_24h), the linkage's missing feature-flag rows, the audit rows
-- an earlier version could not write, the sweeper's queue (stale when the sweeper is not running), what
-- would make the audit's storage refuse a row, the verdict (check_status) and whom it concerns (owners
-- and tags, from this model's meta and tags in _marts__models.yml, for the alerts).

{%- set categories = linkage_delivery_categories() %}
{%- set meta = config.get('meta') or {} %}
{%- set owners = meta.get('owner') or [] %}
{%- set owners = [owners] if owners is string else owners %}
{%- set tags = ((config.get('tags') or []) + (meta.get('tags') or [])) | unique | list %}
{%- set owners_array = "array['" ~ (owners | map('replace', "'", "''") | join("', '")) ~ "']"
    if owners else 'array[]' %}
{%- set tags_array = "array['" ~ (tags | map('replace', "'", "''") | join("', '")) ~ "']"
    if tags else 'array[]' %}

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
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

queue as (
    select * from {{ ref('stg_linkage_private__guest_link_queue') }}
),

sweeper as (
    select
        count(*) as queued_guests,
        min(enqueued_at) as oldest_queue_entry_at,
        count(*) filter (
            where enqueued_at <= now() - interval '{{ linkage_sweep_window() }}'
        ) as stale_queue_entries
    from queue
),

audit_storage as (
    -- what would make the write path's own tables refuse a row (an operator's constraint or trigger)
    select count(found.problem) as audit_storage_problems
    from {{ linkage_private_schema() }}.audit_storage_problems() as found (problem)
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
        {%- for category in categories %}
            integrity.{{ category.name }},
        {%- endfor %}
        integrity.inconsistent_deliveries,
        integrity.inconsistency_percentage,
        integrity.health_status,
        integrity.critical_pct,
        integrity.runbook_total_deliveries,
        integrity.runbook_inconsistent_deliveries,
        integrity.runbook_inconsistency_percentage,
        integrity.runbook_difference,
        integrity.categories_counted_at,
        integrity.categories_total_deliveries,
        activity.total_attempts as attempts_24h,
        activity.successful_links as linked_24h,
        activity.success_rate as success_rate_24h,
        activity.backfill_links as backfill_links_24h,
        activity.guests_backfilled as backfilled_guests_24h,
        missing_flags.missing_feature_flags,
        failure_counts.audit_write_failures,
        failure_counts.last_audit_write_failure_at,
        sweeper.queued_guests,
        sweeper.oldest_queue_entry_at,
        sweeper.stale_queue_entries,
        audit_storage.audit_storage_problems,
        -- the one verdict: the health status, raised to warning by a missing flag row, an audit write
        -- failure an earlier version kept, a sweeper that has not run within the window, or an audit
        -- storage that would refuse rows (the dbt tests on those say so too)
        case
            when
                integrity.health_status = 'healthy'
                and (
                    cardinality(missing_flags.missing_feature_flags) > 0
                    or failure_counts.audit_write_failures > 0
                    or sweeper.stale_queue_entries > 0
                    or audit_storage.audit_storage_problems > 0
                )
                then 'warning'
            else integrity.health_status
        end as check_status,
        {{ owners_array }}::text [] as owners,
        {{ tags_array }}::text [] as tags
    from integrity
    cross join activity
    cross join missing_flags
    cross join failure_counts
    cross join sweeper
    cross join audit_storage
)

select * from daily_check
