-- Audit rows the linkage did not write (audit_source 'legacy': the rows an adopted audit table held
-- when the deploy took it over, written by the original system under its own rules), per UTC day,
-- table_name and outcome. Reported apart: the audit tests and the activity marts judge only the
-- linkage's own rows.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
),

legacy_rows as (
    select
        (created_at at time zone 'UTC')::date as activity_date,
        table_name,
        outcome
    from audit
    where audit_source = 'legacy'
),

daily as (
    select
        {{ linkage_grain_key(['activity_date', 'table_name', 'outcome']) }} as legacy_group_key,
        activity_date,
        table_name,
        outcome,
        count(*) as audit_rows
    from legacy_rows
    group by activity_date, table_name, outcome
)

select * from daily
