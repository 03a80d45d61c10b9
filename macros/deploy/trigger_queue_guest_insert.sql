{#
    trigger_queue_guest_insert (helper): AFTER INSERT on event_guests, per row, only for a guest
    inserted active and linked: queue_guest_link.
#}
{% macro trigger_queue_guest_insert(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_queue_guest_insert',
        'after insert on ' ~ ctx.s ~ '.event_guests for each row
        when (' ~ linkage_guest_is_linkable('new') ~ ')
        execute function ' ~ ctx.p ~ '.queue_guest_link()') }}
{% endmacro %}
