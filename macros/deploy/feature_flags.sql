{#
    feature_flags: the runbook's switches. Adopts an existing table with flag_name and enabled columns;
    stops the deploy on one of another shape. The two linkage flags are inserted only when missing,
    so an operator's value is never overwritten.
#}
{% macro feature_flags(s) %}
    if pg_catalog.to_regclass('{{ s }}.feature_flags') is null then
        create table {{ s }}.feature_flags (
            flag_name text primary key,
            enabled boolean not null,
            description text,
            updated_at timestamptz not null default pg_catalog.now()
        );
        comment on table {{ s }}.feature_flags is 'Feature switches; delivery_linkage reads LINK_USER_BY_PHONE and LINK_USER_BY_PHONE_FALLBACK_TO_USERS.';
    elsif (
        select pg_catalog.count(*) from pg_catalog.pg_attribute as a
        where a.attrelid = '{{ s }}.feature_flags'::regclass and not a.attisdropped
          and (
              (a.attname = 'flag_name' and a.atttypid in ('text'::regtype, 'varchar'::regtype))
              or (a.attname = 'enabled' and a.atttypid = 'boolean'::regtype)
          )
    ) <> 2 then
        raise exception using
            message = 'delivery_linkage: {{ s }}.feature_flags exists but has another shape',
            detail = 'The linkage needs columns flag_name (text) and enabled (boolean).',
            hint = 'Rename or fix the existing table, or set var linkage_deploy: false.';
    end if;
    insert into {{ s }}.feature_flags (flag_name, enabled)
    select wanted.flag_name, wanted.enabled
    from (values ('LINK_USER_BY_PHONE', true), ('LINK_USER_BY_PHONE_FALLBACK_TO_USERS', false)) as wanted (flag_name, enabled)
    where not exists (select 1 from {{ s }}.feature_flags as f where f.flag_name = wanted.flag_name);
{% endmacro %}
