-- Daily delivery integrity check, for cron, without dbt:
--   psql -X -f scripts/daily-delivery-integrity-check.sql [-v critical_pct=1.0]
-- Computes the figures of the dbt model delivery_integrity straight from the app tables (found
-- through search_path, normally public) and prints them; then raises a WARNING when the share of
-- linkable-but-NULL deliveries is above critical_pct (default 1.0), a NOTICE otherwise.
-- Read-only: runs on a hot standby too.

\set ON_ERROR_STOP on
\set QUIET on
\if :{?critical_pct}
\else
    \set critical_pct 1.0
\endif

with

delivery_totals as (
    select count(*) as total_deliveries
    from message_deliveries
),

unlinked_delivery_counts as (
    select
        count(*) filter (where guest.user_id is not null and guest.removed_at is null) as inconsistent_deliveries,
        count(*) filter (where guest.user_id is null) as both_null_deliveries
    from message_deliveries as delivery
    inner join event_guests as guest on guest.id = delivery.guest_id
    where delivery.user_id is null
),

linked_delivery_counts as (
    select
        count(*) filter (where guest.user_id = delivery.user_id) as consistent_deliveries,
        count(*) filter (where guest.user_id <> delivery.user_id) as conflicting_deliveries
    from message_deliveries as delivery
    inner join event_guests as guest on guest.id = delivery.guest_id
    where delivery.user_id is not null
        and guest.user_id is not null
),

figures as (
    select
        now() as check_timestamp,
        delivery_totals.total_deliveries,
        unlinked_delivery_counts.inconsistent_deliveries,
        linked_delivery_counts.consistent_deliveries,
        unlinked_delivery_counts.both_null_deliveries,
        linked_delivery_counts.conflicting_deliveries,
        coalesce(round(100.0 * unlinked_delivery_counts.inconsistent_deliveries
            / nullif(delivery_totals.total_deliveries, 0), 2), 0)::numeric(5, 2) as inconsistency_percentage
    from delivery_totals
    cross join unlinked_delivery_counts
    cross join linked_delivery_counts
)

select
    figures.*,
    case
        when figures.inconsistent_deliveries = 0 then 'healthy'
        when figures.inconsistency_percentage > :'critical_pct'::numeric then 'critical'
        else 'warning'
    end as health_status,
    :'critical_pct'::numeric as critical_pct
from figures
\gset check_

\echo 'check_timestamp          ' :check_check_timestamp
\echo 'total_deliveries         ' :check_total_deliveries
\echo 'inconsistent_deliveries  ' :check_inconsistent_deliveries
\echo 'consistent_deliveries    ' :check_consistent_deliveries
\echo 'both_null_deliveries     ' :check_both_null_deliveries
\echo 'conflicting_deliveries   ' :check_conflicting_deliveries
\echo 'inconsistency_percentage ' :check_inconsistency_percentage
\echo 'health_status            ' :check_health_status
\echo 'critical_pct             ' :check_critical_pct

-- RAISE needs PL/pgSQL, and psql variables are not substituted inside a DO body: the DO statement
-- is built here with the figures as literals and run by \gexec.
select format(
    $do$do $check$ begin raise %s '%%', %L; end $check$$do$,
    case when :'check_health_status' = 'critical' then 'warning' else 'notice' end,
    format(
        'delivery integrity %s: %s of %s deliveries linkable but NULL (%s%%, critical above %s%%), %s conflicting',
        :'check_health_status',
        :'check_inconsistent_deliveries',
        :'check_total_deliveries',
        :'check_inconsistency_percentage',
        :'check_critical_pct',
        :'check_conflicting_deliveries'
    )
)
\gexec
