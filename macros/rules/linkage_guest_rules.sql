{#
    The runbook's guest rules, written once. Each renders a SQL boolean expression over a guest row
    of the app's event_guests (columns user_id, removed_at, event_id) known by `guest` in the query
    (none: the columns unqualified).

    linkage_guest_is_active(guest): the guest was not removed from the event.
    linkage_guest_is_linkable(guest): active and linked to a user: the guest whose user its
        deliveries must carry (a NULL user_id on such a delivery is the defect).
    linkage_guest_of_event(guest, event_id): the guest belongs to the delivery's event (its message's
        event; a message with no event, or not written yet, cannot tell and does not refuse): the
        linkage never hands one event's message to a user who is a guest of another event.
#}
{% macro linkage_guest_is_active(guest=none) -%}
    {%- set prefix = guest ~ '.' if guest else '' -%}
    ({{ prefix }}removed_at is null)
{%- endmacro %}

{% macro linkage_guest_is_linkable(guest=none) -%}
    {%- set prefix = guest ~ '.' if guest else '' -%}
    ({{ prefix }}user_id is not null and {{ linkage_guest_is_active(guest) }})
{%- endmacro %}

{% macro linkage_guest_of_event(guest, event_id) -%}
    ({{ guest }}.event_id = coalesce({{ event_id }}, {{ guest }}.event_id))
{%- endmacro %}
