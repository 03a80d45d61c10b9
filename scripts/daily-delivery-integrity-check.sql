-- Daily delivery integrity check, for cron, without Python:
--   psql -X -f scripts/daily-delivery-integrity-check.sql [-v critical_pct=1.0] [-v marts_schema=linkage]
-- Reads the dbt model daily_integrity_check (a view: the figures are computed when read, from the
-- app tables, at a small part of the cost of reading every delivery; one `dbt run` ever creates it;
-- the delivery categories and the runbook's figure are the last dbt build's) and prints it; then raises a WARNING when its verdict
-- (check_status) is critical: the share of linkable-but-NULL deliveries above critical_pct (default:
-- the model's, var linkage_critical_pct, 1.0), a NOTICE otherwise. The figures and the health status are defined
-- once, in the models (int_delivery_integrity__assessed): this script only reads them.
-- Read-only: runs on a hot standby too.

\set ON_ERROR_STOP on
\set QUIET on
\if :{?marts_schema}
\else
    \set marts_schema linkage
\endif

select pg_catalog.to_regclass(format('%I.daily_integrity_check', :'marts_schema')) is not null as models_built
\gset
\if :models_built
\else
    -- stops the script (ON_ERROR_STOP: psql exits 3) with the cause and the fix
    select format(
        $do$do $stop$ begin raise exception using message = %L, hint = %L; end $stop$$do$,
        format('the metric models are not built: %s.daily_integrity_check does not exist', :'marts_schema'),
        'run `dbt run` once against this database, or pass -v marts_schema=SCHEMA (the DBT_SCHEMA of that run)'
    )
    \gexec
\endif

-- the threshold, when given, for this transaction only (the view reads linkage.critical_pct)
begin;
\if :{?critical_pct}
    select set_config('linkage.critical_pct', :'critical_pct', true) as critical_pct_setting
    \gset
\endif
with check_row as (
    select * from :"marts_schema".daily_integrity_check
)

select
    check_row.*,
    -- \gset leaves a variable unset for NULL: the NULL-able figures as text (the categories and the
    -- runbook's figure are NULL until a dbt build counts them)
    coalesce(check_row.success_rate_24h::text, 'n/a (no attempts)') as success_rate_24h_text,
    coalesce(check_row.last_audit_write_failure_at::text, 'never') as last_audit_write_failure_text,
    coalesce(check_row.categories_counted_at::text, 'not yet (run dbt build)') as categories_counted_at_text,
    coalesce(check_row.linked_to_guest_user::text, '-') as linked_to_guest_user_text,
    coalesce(check_row.linked_to_other_user::text, '-') as linked_to_other_user_text,
    coalesce(check_row.linked_without_guest::text, '-') as linked_without_guest_text,
    coalesce(check_row.linkable_null::text, '-') as linkable_null_text,
    coalesce(check_row.null_guest_not_linked::text, '-') as null_guest_not_linked_text,
    coalesce(check_row.null_guest_removed::text, '-') as null_guest_removed_text,
    coalesce(check_row.null_guest_other_event::text, '-') as null_guest_other_event_text,
    coalesce(check_row.null_without_guest::text, '-') as null_without_guest_text,
    coalesce(check_row.runbook_total_deliveries::text, '-') as runbook_total_deliveries_text,
    coalesce(check_row.runbook_inconsistent_deliveries::text, '-') as runbook_inconsistent_deliveries_text,
    coalesce(check_row.runbook_inconsistency_percentage::text, '-') as runbook_inconsistency_percentage_text,
    coalesce(check_row.runbook_difference::text, '-') as runbook_difference_text,
    coalesce(check_row.categories_total_deliveries::text, '-') as categories_total_deliveries_text
from check_row
\gset check_
commit;

\echo 'check_timestamp                  ' :check_check_timestamp
\echo 'check_status                     ' :check_check_status
\echo 'total_deliveries                 ' :check_total_deliveries
\echo 'categories_counted_at            ' :check_categories_counted_at_text
\echo 'categories_total_deliveries      ' :check_categories_total_deliveries_text
\echo 'linked_to_guest_user             ' :check_linked_to_guest_user_text
\echo 'linked_to_other_user             ' :check_linked_to_other_user_text
\echo 'linked_without_guest             ' :check_linked_without_guest_text
\echo 'linkable_null                    ' :check_linkable_null_text
\echo 'null_guest_not_linked            ' :check_null_guest_not_linked_text
\echo 'null_guest_removed               ' :check_null_guest_removed_text
\echo 'null_guest_other_event           ' :check_null_guest_other_event_text
\echo 'null_without_guest               ' :check_null_without_guest_text
\echo 'inconsistent_deliveries          ' :check_inconsistent_deliveries
\echo 'inconsistency_percentage         ' :check_inconsistency_percentage
\echo 'health_status                    ' :check_health_status
\echo 'critical_pct                     ' :check_critical_pct
\echo 'runbook_total_deliveries         ' :check_runbook_total_deliveries_text
\echo 'runbook_inconsistent_deliveries  ' :check_runbook_inconsistent_deliveries_text
\echo 'runbook_inconsistency_percentage ' :check_runbook_inconsistency_percentage_text
\echo 'runbook_difference               ' :check_runbook_difference_text
\echo 'attempts_24h                     ' :check_attempts_24h
\echo 'linked_24h                       ' :check_linked_24h
\echo 'success_rate_24h                 ' :check_success_rate_24h_text
\echo 'backfill_links_24h               ' :check_backfill_links_24h
\echo 'backfilled_guests_24h            ' :check_backfilled_guests_24h
\echo 'missing_feature_flags            ' :check_missing_feature_flags
\echo 'audit_write_failures             ' :check_audit_write_failures
\echo 'last_audit_write_failure_at      ' :check_last_audit_write_failure_text
\echo 'owners                           ' :check_owners
\echo 'tags                             ' :check_tags

-- RAISE needs PL/pgSQL, and psql variables are not substituted inside a DO body: the DO statement
-- is built here with the figures as literals and run by \gexec.
select format(
    $do$do $check$ begin raise %s '%%', %L; end $check$$do$,
    case when :'check_check_status' = 'critical' then 'warning' else 'notice' end,
    format(
        'delivery integrity %s: %s of %s deliveries linkable but NULL (%s%%, critical above %s%%);'
        ' runbook''s figure %s of %s (%s%%): %s',
        :'check_check_status',
        :'check_inconsistent_deliveries',
        :'check_total_deliveries',
        :'check_inconsistency_percentage',
        :'check_critical_pct',
        :'check_runbook_inconsistent_deliveries_text',
        :'check_runbook_total_deliveries_text',
        :'check_runbook_inconsistency_percentage_text',
        :'check_runbook_difference_text'
    )
)
\gexec
