{#
    trigger_backfill_deliveries_on_guest_insert (helper): AFTER INSERT on event_guests, per row, only
    for a guest inserted active and linked: trigger_backfill_guest_deliveries.
#}
{% macro trigger_backfill_deliveries_on_guest_insert(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_backfill_deliveries_on_guest_insert',
        'after insert on ' ~ ctx.s ~ '.event_guests for each row
        when (' ~ linkage_guest_is_linkable('new') ~ ')
        execute function ' ~ ctx.s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
