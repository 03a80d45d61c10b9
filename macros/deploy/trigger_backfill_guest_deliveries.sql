{#
    trigger_backfill_guest_deliveries: the runbook's trigger function on event_guests, row-level AFTER
    (trigger_backfill_deliveries_on_guest_link on UPDATE OF user_id, removed_at;
    trigger_backfill_deliveries_on_guest_insert on INSERT), called only for a guest that became
    linkable — linked while active, restored while linked, relinked to another user, inserted active and
    linked (the triggers' WHEN clauses): a name or RSVP edit never calls it. Queues the guest
    (guest_link_queue, reason guest_linked); the sweeper gives its NULL deliveries its user as soon as
    the link has committed and every transaction that overlapped it has ended — in its own short
    transaction, so the app's transaction never holds a delivery row for the linkage (an update of
    that delivery would wait for it) and never writes the audit.
#}
{% macro trigger_backfill_guest_deliveries(ctx) %}
    create or replace function {{ ctx.s }}.trigger_backfill_guest_deliveries()
    returns trigger
    {{ linkage_definer_attributes('plpgsql') }}
    as $function$
    begin
        insert into {{ ctx.p }}.guest_link_queue (guest_id, reason) values (new.id, 'guest_linked');
        return null;
    end
    $function$;
    comment on function {{ ctx.s }}.trigger_backfill_guest_deliveries() is
        'delivery_linkage: AFTER row trigger function on event_guests: queues a guest that became linkable for the sweeper.';
{% endmacro %}
