{#
    dbt run-operation deploy: the on-run-start deploy on its own, for operators and for the tooling
    (same SQL, same version hash, same no-op when nothing changed).
#}
{% macro deploy() %}
    {%- set statement = deploy_linkage() -%}
    {%- if statement | trim -%}
        {% do run_query(statement) %}
        {{ log('delivery_linkage: deploy done', info=True) }}
    {%- endif -%}
{% endmacro %}
