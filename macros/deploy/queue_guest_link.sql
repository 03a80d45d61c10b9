{#
    queue_guest_link: row-level AFTER trigger function on event_guests (trigger_queue_guest_link on
    UPDATE OF user_id, removed_at; trigger_queue_guest_insert on INSERT), called only for a guest that
    became linkable — linked while active, restored while linked, relinked to another user, inserted
    active and linked (the triggers' WHEN clauses): a name or RSVP edit never calls it, nor fires any
    of the linkage's triggers on event_guests. Queues the guest (guest_link_queue): at READ COMMITTED
    to be backfilled at the end of the statement (trigger_backfill_guest_deliveries) and looked at
    again by the sweeper after commit; under REPEATABLE READ / SERIALIZABLE for the sweeper only (the
    transaction's snapshot cannot see deliveries committed after it began, and updating rows changed
    since would fail it with a serialization error the app would not have had).
#}
{% macro queue_guest_link(ctx) %}
    create or replace function {{ ctx.p }}.queue_guest_link()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    begin
        insert into {{ ctx.p }}.guest_link_queue (guest_id, backfill_in_transaction)
        values (new.id, pg_catalog.current_setting('transaction_isolation') = 'read committed');
        return null;
    end
    $function$;
    comment on function {{ ctx.p }}.queue_guest_link() is
        'delivery_linkage: AFTER row trigger function on event_guests: queues a guest that became linkable.';
{% endmacro %}
