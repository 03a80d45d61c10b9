{#
    Triggers on event_guests, statement-level with transition tables so a bulk link of N guests
    backfills their deliveries in one set-based statement:
    - trigger_backfill_deliveries_on_guest_link (the runbook's): AFTER UPDATE.
    - trigger_backfill_deliveries_on_guest_insert (helper): AFTER INSERT, for a guest created already
      linked while deliveries already name it.
#}
{% macro trigger_backfill_deliveries_on_guest_link(s) %}
    {{ linkage_ensure_trigger(s, 'event_guests', 'trigger_backfill_deliveries_on_guest_link',
        'after update on ' ~ s ~ '.event_guests referencing old table as old_guests new table as new_guests
        for each statement execute function ' ~ s ~ '.trigger_backfill_guest_deliveries()') }}
    {{ linkage_ensure_trigger(s, 'event_guests', 'trigger_backfill_deliveries_on_guest_insert',
        'after insert on ' ~ s ~ '.event_guests referencing new table as new_guests
        for each statement execute function ' ~ s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
