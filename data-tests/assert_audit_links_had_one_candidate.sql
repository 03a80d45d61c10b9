-- Error: a link is only ever made on exactly one candidate.
-- Judges only the linkage's own audit rows: legacy rows (an adopted table's) follow other rules.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where audit_source = 'linkage'
    and outcome = 'linked'
    and candidate_count is distinct from 1
