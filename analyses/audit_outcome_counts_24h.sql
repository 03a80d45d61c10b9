-- Runbook debugging query 3: audit rows of the last 24 hours per table, outcome and reason.

with

audit as (
    select * from {{ source('app', 'user_link_audit') }}
),

counted as (
    select
        table_name,
        outcome,
        reason,
        count(*) as audit_rows,
        min(created_at) as first_at,
        max(created_at) as last_at
    from audit
    where created_at >= now() - interval '24 hours'
    group by table_name, outcome, reason
)

select * from counted
order by table_name asc, outcome asc, audit_rows desc
