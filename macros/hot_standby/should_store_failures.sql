{#
    should_store_failures(): dbt's own (global macro of the same name, which the test materialization
    calls), except on a hot standby: there the failing rows of a `store_failures` test cannot be
    written, so the test runs without storing them (its result, pass, warn or fail, is the same).
    Applies when this project is the root project (dbt uses a root project's global overrides only).
#}
{% macro should_store_failures() %}
    {%- set store_failures = dbt.should_store_failures() -%}
    {%- if store_failures and linkage_is_hot_standby() -%}
        {%- do log('delivery_linkage: hot standby, failing rows of ' ~ model.name ~ ' not stored', info=False) -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(store_failures) }}
{% endmacro %}
