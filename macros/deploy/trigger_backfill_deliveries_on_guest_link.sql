{#
    trigger_backfill_deliveries_on_guest_link (the runbook's): AFTER INSERT or UPDATE OF user_id,
    removed_at on event_guests, per statement: backfills, set-based, the guests the statement made
    linkable (queued by trigger_queue_guest_link / trigger_queue_guest_insert) —
    trigger_backfill_guest_deliveries. An update that sets neither column (a name or RSVP edit) never
    fires it.
#}
{% macro trigger_backfill_deliveries_on_guest_link(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_backfill_deliveries_on_guest_link',
        'after insert or update of user_id, removed_at on ' ~ ctx.s ~ '.event_guests
        for each statement execute function ' ~ ctx.s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
