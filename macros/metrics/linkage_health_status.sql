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
    linkage_runbook_difference(): one line saying why the runbook's figure differs from the project's,
    as a SQL text expression over the columns inconsistent_deliveries, total_deliveries,
    runbook_inconsistent_deliveries and runbook_total_deliveries. The runbook's figure is shown beside
    the project's, never judged: the health status is the project's alone.
#}
{% macro linkage_runbook_difference() %}
    case
        when runbook_inconsistent_deliveries = inconsistent_deliveries
            and runbook_total_deliveries = total_deliveries
            then 'The runbook''s query finds the same figure.'
        else format(
            'The runbook''s query also counts as inconsistent the %s deliveries with no user whose guest has an '
            'account but was removed or belongs to another event, and leaves the %s deliveries without a guest '
            'out of its total; neither is a defect here.',
            runbook_inconsistent_deliveries - inconsistent_deliveries,
            total_deliveries - runbook_total_deliveries
        )
    end
{%- endmacro %}
