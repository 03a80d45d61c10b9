-- Runbook debugging query 3: audit rows of the last 24 hours per source, table, outcome and reason
-- (audit_source legacy: rows the original system wrote before the deploy adopted its table).

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
),

counted as (
    select
        audit_source,
        table_name,
        outcome,
        reason,
        count(*) as audit_rows,
        min(created_at) as first_at,
        max(created_at) as last_at
    from audit
    where created_at >= now() - interval '24 hours'
    group by audit_source, table_name, outcome, reason
)

select * from counted
order by audit_source asc, table_name asc, outcome asc, audit_rows desc
