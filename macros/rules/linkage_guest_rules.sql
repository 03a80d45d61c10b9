{#
    The runbook's guest rules, written once. Each renders a SQL boolean expression over a guest row
    of the app's event_guests (columns user_id, removed_at) known by `guest` in the query (none:
    the columns unqualified).

    linkage_guest_is_active(guest): the guest was not removed from the event.
    linkage_guest_is_linkable(guest): active and linked to a user: the guest whose user its
        deliveries must carry (a NULL user_id on such a delivery is the defect).
#}
{% macro linkage_guest_is_active(guest=none) -%}
    {%- set prefix = guest ~ '.' if guest else '' -%}
    ({{ prefix }}removed_at is null)
{%- endmacro %}

{% macro linkage_guest_is_linkable(guest=none) -%}
    {%- set prefix = guest ~ '.' if guest else '' -%}
    ({{ prefix }}user_id is not null and {{ linkage_guest_is_active(guest) }})
{%- endmacro %}
