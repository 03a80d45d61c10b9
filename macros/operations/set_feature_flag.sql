{#
    dbt run-operation set_feature_flag --args '{flag_name: LINK_USER_BY_PHONE, enabled: false}'
    Turns a feature flag on or off. Stops with an error, changing nothing, on an unknown flag name.
#}
{% macro set_feature_flag(flag_name=none, enabled=none) %}
    {%- set s = linkage_schema() -%}
    {%- if flag_name is none or (flag_name | string | trim) == '' -%}
        {{ exceptions.raise_compiler_error("set_feature_flag needs flag_name, e.g. --args '{flag_name: LINK_USER_BY_PHONE, enabled: false}'") }}
    {%- endif -%}
    {%- if enabled is none -%}
        {{ exceptions.raise_compiler_error("set_feature_flag needs enabled: true or false") }}
    {%- endif -%}
    {%- set enabled = linkage_as_bool(enabled, 'enabled') -%}
    {%- set name_literal = "'" ~ (flag_name | string | trim | replace("'", "''")) ~ "'" -%}
    {%- set flags = adapter.get_relation(database=target.database, schema=s, identifier='feature_flags') -%}
    {%- set has_updated_at = adapter.get_columns_in_relation(flags) | selectattr('name', 'equalto', 'updated_at') | list | length > 0 -%}
    {%- set result = linkage_run_committed(
        "update " ~ s ~ ".feature_flags set enabled = " ~ enabled
        ~ (", updated_at = now()" if has_updated_at else "")
        ~ " where flag_name = " ~ name_literal ~ " returning flag_name, enabled"
    ) -%}
    {%- if result.rows | length == 0 -%}
        {%- set known = linkage_run_committed("select string_agg(flag_name, ', ' order by flag_name) as names from " ~ s ~ ".feature_flags") -%}
        {{ exceptions.raise_compiler_error("unknown feature flag " ~ name_literal ~ "; known flags: " ~ known.rows[0]['names']) }}
    {%- endif -%}
    {{ log('Feature flag ' ~ result.rows[0]['flag_name'] ~ ' is now ' ~ ('on' if result.rows[0]['enabled'] else 'off'), info=True) }}
{% endmacro %}
