{#
    audit_vocabulary() → (kind, value, table_name, outcome, meaning, legacy): the audit's vocabulary
    (macros/rules/linkage_audit_vocabulary.sql) in the database, for everything that reads the audit
    outside dbt: `linkage check`, the report's glossary, the GX suite (its value sets are checked
    against it). kind is table_name, outcome or reason; a reason row names its table_name and outcome.
#}
{% macro audit_vocabulary(ctx) %}
    {%- set vocabulary = linkage_audit_vocabulary() -%}
    create or replace function {{ ctx.p }}.audit_vocabulary()
    returns table (kind text, value text, table_name text, outcome text, meaning text, legacy boolean)
    language sql
    immutable
    set search_path = ''
    as $function$
        select entry.kind, entry.value, entry.table_name, entry.outcome, entry.meaning, entry.legacy
        from (values
        {%- for name, meaning, legacy in vocabulary['table_names'] %}
            ('table_name', '{{ name }}', null::text, null::text, {{ linkage_sql_literal(meaning) }}, {{ legacy }}),
        {%- endfor %}
        {%- for name, meaning in vocabulary['outcomes'] %}
            ('outcome', '{{ name }}', null, null, {{ linkage_sql_literal(meaning) }}, false),
        {%- endfor %}
        {%- for name, table_name, outcome, meaning in vocabulary['reasons'] %}
            ('reason', '{{ name }}', '{{ table_name }}', '{{ outcome }}', {{ linkage_sql_literal(meaning) }}, {{ name in vocabulary['legacy_reasons'] }}){{ ',' if not loop.last }}
        {%- endfor %}
        ) as entry (kind, value, table_name, outcome, meaning, legacy)
    $function$;
    comment on function {{ ctx.p }}.audit_vocabulary() is
        'delivery_linkage: every table_name, outcome and reason the linkage writes to user_link_audit, with its meaning.';
{% endmacro %}
