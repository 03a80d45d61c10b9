-- Error: a link is only ever made on exactly one candidate.
-- Judges only the linkage's own audit rows: legacy rows (an adopted table's) follow other rules, and
-- so do the app's own changes recorded by earlier versions (message_deliveries_app_update).

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where audit_source = 'linkage'
    and outcome = 'linked'
    and table_name <> 'message_deliveries_app_update'
    and candidate_count is distinct from 1
