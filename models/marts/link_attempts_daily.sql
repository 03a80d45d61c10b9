-- The linkage's linking activity (its own audit rows) per UTC day, audit table_name, outcome and reason.

with

audit as (
    select * from {{ ref('int_user_link_audit__classified') }}
),

daily as (
    select
        activity_date,
        table_name,
        outcome,
        reason,
        count(*) as attempts,
        count(*) filter (where is_linked) as linked
    from audit
    group by 1, 2, 3, 4
),

rated as (
    select
        {{ linkage_grain_key(['activity_date', 'table_name', 'outcome', "coalesce(reason, 'unknown')"]) }}
            as attempt_group_key,
        activity_date,
        table_name,
        outcome,
        coalesce(reason, 'unknown') as reason,
        attempts,
        linked,
        round(linked::numeric / attempts, 4)::numeric(5, 4) as success_rate
    from daily
)

select * from rated
