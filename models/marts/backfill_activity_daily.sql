-- Backfill links per UTC day and kind: guest_link (a guest became linkable), manual
-- (backfill_guest_deliveries by hand), historical (the backfill_deliveries operation).

with

audit as (
    select * from {{ ref('int_user_link_audit__classified') }}
),

backfill_links as (
    select
        activity_date,
        backfill_kind,
        matched_guest_id,
        created_at
    from audit
    where table_name = 'message_deliveries_backfill'
        and is_linked
),

daily as (
    select
        {{ linkage_grain_key(['activity_date', 'backfill_kind']) }} as backfill_group_key,
        activity_date,
        backfill_kind,
        count(*) as backfill_operations,
        count(distinct matched_guest_id) as guests_backfilled,
        min(created_at) as first_at,
        max(created_at) as last_at
    from backfill_links
    group by activity_date, backfill_kind
)

select * from daily
