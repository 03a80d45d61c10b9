{#
    dbt run-operation disable_linkage_triggers: the runbook's rollback plan; disables the linkage's
    triggers on message_deliveries and event_guests (the private set_linkage_triggers_enabled(false)).
    The feature flag LINK_USER_BY_PHONE (set_feature_flag) is the gentler switch.
#}
{% macro disable_linkage_triggers() %}
    {%- set s = linkage_schema() -%}
    {% do linkage_run_committed('select ' ~ linkage_private_schema() ~ '.set_linkage_triggers_enabled(false)') %}
    {% do linkage_log_trigger_states(s) %}
{% endmacro %}
