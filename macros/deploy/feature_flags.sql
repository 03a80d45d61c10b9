{#
    feature_flags: the runbook's switches, LINK_USER_BY_PHONE (true) and
    LINK_USER_BY_PHONE_FALLBACK_TO_USERS (false), each inserted only when missing, so an operator's
    value is never overwritten (and a deploy restores a deleted flag row).
    An app table named feature_flags in the app schema, with flag_name (text) and enabled (boolean),
    is adopted as it is (another shape stops the deploy). Otherwise the table is the linkage's own, in
    the private schema, shown in the app schema as the view feature_flags (simple, so the runbook's
    `update feature_flags set enabled = …` works through it).
#}
{% macro feature_flags(ctx) %}
    {%- if ctx.flags_adopted %}
    if (
        select pg_catalog.count(*) from pg_catalog.pg_attribute as a
        where a.attrelid = '{{ ctx.flags }}'::regclass and not a.attisdropped
          and (
              (a.attname = 'flag_name' and a.atttypid in ('text'::regtype, 'varchar'::regtype))
              or (a.attname = 'enabled' and a.atttypid = 'boolean'::regtype)
          )
    ) <> 2 then
        raise exception using
            message = 'delivery_linkage: {{ ctx.flags }} exists but has another shape',
            detail = 'The linkage needs columns flag_name (text) and enabled (boolean).',
            hint = 'Rename or fix the existing table, or set var linkage_deploy: false.';
    end if;
    {%- else %}
    create table if not exists {{ ctx.flags }} (
        flag_name text primary key,
        enabled boolean not null,
        description text,
        updated_at timestamptz not null default pg_catalog.now()
    );
    comment on table {{ ctx.flags }} is
        'delivery_linkage: feature switches LINK_USER_BY_PHONE and LINK_USER_BY_PHONE_FALLBACK_TO_USERS (shown as {{ ctx.s }}.feature_flags).';
    create or replace view {{ ctx.s }}.feature_flags as
        select flag.flag_name, flag.enabled, flag.description, flag.updated_at from {{ ctx.flags }} as flag;
    comment on view {{ ctx.s }}.feature_flags is
        'delivery_linkage: the feature switches ({{ ctx.flags }}); update it to flip a flag.';
    {%- endif %}
    insert into {{ ctx.flags }} (flag_name, enabled)
    select wanted.flag_name, wanted.enabled
    from (values
        {%- for flag in linkage_feature_flags() %}
        ('{{ flag.flag_name }}', {{ flag.default_enabled }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as wanted (flag_name, enabled)
    where not exists (select 1 from {{ ctx.flags }} as flag where flag.flag_name = wanted.flag_name);
{% endmacro %}
