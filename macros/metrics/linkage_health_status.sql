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


{#
    linkage_runbook_health_status(inconsistent): the health_status column of the original app's
    daily script (scripts/daily-delivery-integrity-check.sql of the app), without its emoji:
    HEALTHY with no inconsistent delivery, MINOR_ISSUES with at most var
    linkage_runbook_minor_issues_max (default 2), NEEDS_ATTENTION above.
#}
{% macro linkage_runbook_health_status(inconsistent) %}
    {%- set minor_max = var('linkage_runbook_minor_issues_max', 2) | string | trim -%}
    {%- if not modules.re.match('^[0-9]+$', minor_max) -%}
        {{ exceptions.raise_compiler_error("var linkage_runbook_minor_issues_max must be a non-negative integer, got '" ~ minor_max ~ "'") }}
    {%- endif -%}
    case
        when {{ inconsistent }} = 0 then 'HEALTHY'
        when {{ inconsistent }} <= {{ minor_max }} then 'MINOR_ISSUES'
        else 'NEEDS_ATTENTION'
    end
{%- endmacro %}
