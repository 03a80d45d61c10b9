{#
    linkage_relation_exists(relation): whether the table or view exists in the database (asked when dbt
    executes; true while it only parses, so that the model's dependencies are recorded). The staging
    models of tables a deploy creates use it to be empty, not an error, before that deploy has run.
#}
{% macro linkage_relation_exists(relation) %}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier,
    ) is not none) }}
{% endmacro %}
