{#
    linkage_is_hot_standby(): true on a hot standby (a read replica: pg_is_in_recovery()), where
    nothing can be written, not even a temporary table. Asked of the database each time (one
    round trip); false while dbt is only parsing.
#}
{% macro linkage_is_hot_standby() %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(run_query('select pg_catalog.pg_is_in_recovery()').columns[0].values()[0]) }}
{% endmacro %}
