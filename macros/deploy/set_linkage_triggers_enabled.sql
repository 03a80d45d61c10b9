{#
    set_linkage_triggers_enabled(enabled): the runbook's rollback plan, as one function:
    ALTER TABLE … DISABLE/ENABLE TRIGGER for the linkage's triggers on both tables.
#}
{% macro set_linkage_triggers_enabled(ctx) %}
    {%- set s = ctx.s -%}
    create or replace function {{ ctx.p }}.set_linkage_triggers_enabled(p_enabled boolean)
    returns void
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_trigger record;
    begin
        for v_trigger in
            select c.relname, t.tgname
            from pg_catalog.pg_trigger as t
            join pg_catalog.pg_class as c on c.oid = t.tgrelid
            join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = '{{ s }}'
              and c.relname in ('message_deliveries', 'event_guests', 'users')
              and t.tgname in ({% for name in linkage_trigger_names() %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
        loop
            execute pg_catalog.format(
                'alter table {{ s }}.%I %s trigger %I',
                v_trigger.relname, case when p_enabled then 'enable' else 'disable' end, v_trigger.tgname
            );
        end loop;
    end
    $function$;
    comment on function {{ ctx.p }}.set_linkage_triggers_enabled(boolean) is
        'delivery_linkage: enables or disables the linkage triggers (the runbook''s rollback plan).';
{% endmacro %}
