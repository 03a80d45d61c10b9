{#
    dbt run-operation enable_linkage_triggers: re-enables the linkage's triggers
    (the private set_linkage_triggers_enabled(true)). Deliveries inserted meanwhile are not linked:
    run backfill_deliveries afterwards.
#}
{% macro enable_linkage_triggers() %}
    {%- set s = linkage_schema() -%}
    {% do linkage_run_committed('select ' ~ linkage_private_schema() ~ '.set_linkage_triggers_enabled(true)') %}
    {% do linkage_log_trigger_states(s) %}
{% endmacro %}
