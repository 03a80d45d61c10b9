-- Runbook debugging query 4: the linkage's feature flags and whether its triggers are enabled.

with

flags as (
    select * from {{ ref('linkage_feature_flags') }}
),

flag_status as (
    select
        'feature_flag' as kind,
        flag_name as name,
        case
            when not is_present then 'missing (reads as off)'
            when is_enabled then 'on'
            else 'off'
        end as status
    from flags
),

trigger_status as (
    select
        'trigger' as kind,
        c.relname || '.' || t.tgname as name,
        case when t.tgenabled = 'D' then 'disabled' else 'enabled' end as status
    from pg_catalog.pg_trigger as t
    inner join pg_catalog.pg_class as c
        on t.tgrelid = c.oid
    inner join pg_catalog.pg_namespace as n
        on c.relnamespace = n.oid
    where n.nspname = '{{ linkage_schema() }}'
        and t.tgname in (
            {%- for trigger_name in linkage_trigger_names() %}
                '{{ trigger_name }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
),

combined as (
    select * from flag_status
    union all
    select * from trigger_status
)

select * from combined
order by kind, name
