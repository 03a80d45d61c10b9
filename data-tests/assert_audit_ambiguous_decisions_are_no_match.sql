-- Error: a decision with more than one candidate (ambiguous guests or users) never links.
-- Judges only the linkage's own audit rows: legacy rows (an adopted table's) follow other rules.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where audit_source = 'linkage'
    and candidate_count > 1
    and outcome <> 'no_match'
