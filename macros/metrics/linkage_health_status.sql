{#
    linkage_health_status(inconsistent, percentage, critical_pct): the runbook's alert levels as a
    SQL CASE expression: healthy with no inconsistent delivery, critical when the (rounded)
    percentage is strictly above the threshold, warning otherwise.
#}
{% macro linkage_health_status(inconsistent, percentage, critical_pct=none) %}
    {%- set threshold = critical_pct if critical_pct is not none else linkage_critical_pct() -%}
    case
        when {{ inconsistent }} = 0 then 'healthy'
        when {{ percentage }} > {{ threshold }} then 'critical'
        else 'warning'
    end
{%- endmacro %}
