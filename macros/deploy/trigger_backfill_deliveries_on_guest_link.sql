{#
    trigger_backfill_deliveries_on_guest_link (the runbook's): AFTER UPDATE OF user_id, removed_at on
    event_guests, per row, only for a guest that became linkable (linked while active, restored while
    linked, relinked to another user): trigger_backfill_guest_deliveries. An update that sets neither
    column (a name or RSVP edit) never fires it.
#}
{% macro trigger_backfill_deliveries_on_guest_link(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'event_guests', 'trigger_backfill_deliveries_on_guest_link',
        'after update of user_id, removed_at on ' ~ ctx.s ~ '.event_guests for each row
        when (' ~ linkage_guest_is_linkable('new') ~ ' and not (' ~ linkage_guest_is_linkable('old') ~ ' and old.user_id = new.user_id))
        execute function ' ~ ctx.s ~ '.trigger_backfill_guest_deliveries()') }}
{% endmacro %}
