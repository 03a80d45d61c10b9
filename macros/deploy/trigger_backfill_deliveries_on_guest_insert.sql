{#
    trigger_backfill_deliveries_on_guest_insert (helper): AFTER INSERT on event_guests, per statement,
    for a guest created already linked while deliveries already name it (trigger_backfill_guest_deliveries).
#}
{% macro trigger_backfill_deliveries_on_guest_insert(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_backfill_deliveries_on_guest_insert',
        'after insert on ' ~ ctx.s ~ '.event_guests referencing new table as new_guests
        for each statement execute function ' ~ ctx.s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
