{# linkage_log_trigger_states(s): logs whether each of the linkage's triggers is enabled. #}
{% macro linkage_log_trigger_states(s) %}
    {%- set result = linkage_run_committed(
        "select c.relname as table_name, t.tgname as trigger_name, t.tgenabled <> 'D' as enabled"
        ~ " from pg_catalog.pg_trigger as t"
        ~ " join pg_catalog.pg_class as c on c.oid = t.tgrelid"
        ~ " join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
        ~ " where n.nspname = '" ~ s ~ "' and t.tgname in ('" ~ linkage_trigger_names() | join("', '") ~ "')"
        ~ " order by 1, 2"
    ) -%}
    {%- for row in result.rows -%}
        {{ log('  ' ~ row['table_name'] ~ '.' ~ row['trigger_name'] ~ ': ' ~ ('enabled' if row['enabled'] else 'disabled'), info=True) }}
    {%- endfor -%}
{% endmacro %}
