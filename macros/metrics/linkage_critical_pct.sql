{#
    linkage_critical_pct(): var linkage_critical_pct (default 1.0) as a SQL numeric literal.
    Stops the run on anything that is not a plain non-negative number.
#}
{% macro linkage_critical_pct() %}
    {%- set value = var('linkage_critical_pct', 1.0) | string | trim -%}
    {%- if not modules.re.match('^[0-9]+(\.[0-9]+)?$', value) -%}
        {{ exceptions.raise_compiler_error("var linkage_critical_pct must be a non-negative number, got '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value ~ '::numeric') }}
{% endmacro %}
