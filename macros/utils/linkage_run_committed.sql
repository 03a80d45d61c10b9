{#
    linkage_run_committed(sql): runs one statement in its own transaction and commits it; returns
    the result table. run_query() does not open a transaction dbt knows of (and dbt never commits
    a run-operation), so the operations use this: each call is a separate, committed transaction.
#}
{% macro linkage_run_committed(sql) %}
    {%- call statement('linkage_run_committed', fetch_result=true, auto_begin=true) -%}
        {{ sql }}
    {%- endcall -%}
    {%- set result = load_result('linkage_run_committed') -%}
    {% do adapter.commit() %}
    {{ return(result.table) }}
{% endmacro %}
