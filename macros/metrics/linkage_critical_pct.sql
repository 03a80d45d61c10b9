{#
    linkage_critical_pct(): the critical threshold in force, as a SQL expression of type numeric(5,2):
    the session setting linkage.critical_pct when it is set (`linkage check --critical-pct` and the
    psql script set it for their transaction only), else var linkage_critical_pct (default 1.0).
    Stops the run when the var is not a plain number from 0 to 100.
#}
{% macro linkage_critical_pct() %}
    {%- set value = var('linkage_critical_pct', 1.0) | string | trim -%}
    {%- if not modules.re.match('^[0-9]+(\.[0-9]+)?$', value) or value | float > 100 -%}
        {{ exceptions.raise_compiler_error("var linkage_critical_pct must be a number from 0 to 100, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(
        "coalesce(nullif(current_setting('linkage.critical_pct', true), '')::numeric, "
        ~ value ~ "::numeric)::numeric(5, 2)"
    ) }}
{% endmacro %}
