-- The linkage's own audit rows (audit_source 'linkage': rows an adopted audit table held before the
-- deploy were written under another system's rules and are reported apart, in
-- legacy_link_audit_daily), with the attributes the activity marts group by: the UTC day, whether
-- the row is a link, and for backfill rows their kind (guest_link, manual, historical).

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
),

classified as (
    select
        audit_id,
        audit_source,
        table_name,
        delivery_id,
        event_id,
        matched_guest_id,
        linked_user_id,
        outcome,
        reason,
        candidate_count,
        phone_fallback_enabled,
        created_at,
        (created_at at time zone 'UTC')::date as activity_date,
        outcome = 'linked' as is_linked,
        case
            when table_name <> 'message_deliveries_backfill' then null
            when reason = 'guest_linked' then 'guest_link'
            when reason = 'manual_backfill' then 'manual'
            when reason like 'historical\_%' then 'historical'
            else 'other'
        end as backfill_kind
    from audit
    where audit_source = 'linkage'
)

select * from classified
