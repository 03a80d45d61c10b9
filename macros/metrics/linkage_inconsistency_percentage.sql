{#
    linkage_inconsistency_percentage(inconsistent, total): share of inconsistent deliveries in
    percent, rounded to two decimals, 0.00 for an empty table.
#}
{% macro linkage_inconsistency_percentage(inconsistent, total) %}
    coalesce(round(100.0 * {{ inconsistent }} / nullif({{ total }}, 0), 2), 0)::numeric(5, 2)
{%- endmacro %}
