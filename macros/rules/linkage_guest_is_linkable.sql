{#
    linkage_guest_is_linkable(alias): THE "guest is linkable" predicate of the runbook's rule 1:
    the guest is active (removed_at is null) and linked to a user. Rendered into every function that
    decides it; the models use the same words (int_delivery_link_status).
#}
{% macro linkage_guest_is_linkable(alias) -%}
    ({{ alias }}.removed_at is null and {{ alias }}.user_id is not null)
{%- endmacro %}
