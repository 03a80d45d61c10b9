{#
    trigger_backfill_deliveries_on_guest_link (the runbook's): AFTER UPDATE on event_guests, per
    statement, with transition tables, so a bulk link of N guests backfills their deliveries in one
    set-based statement (trigger_backfill_guest_deliveries).
#}
{% macro trigger_backfill_deliveries_on_guest_link(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_backfill_deliveries_on_guest_link',
        'after update on ' ~ ctx.s ~ '.event_guests referencing old table as old_guests new table as new_guests
        for each statement execute function ' ~ ctx.s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
