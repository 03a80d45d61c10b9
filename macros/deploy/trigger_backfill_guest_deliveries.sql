{#
    trigger_backfill_guest_deliveries: the runbook's statement-level AFTER trigger function on
    event_guests (trigger_backfill_deliveries_on_guest_link, on INSERT and on UPDATE OF user_id,
    removed_at). Takes the guests this transaction queued and has not backfilled yet
    (guest_link_queue, marked as it takes them) and gives their NULL deliveries their user in one
    set-based call of backfill_guest_deliveries, so the app sees the links in its own transaction.
    Rows another transaction holds are skipped, never waited on: the sweeper links them after
    commit, as it does deliveries this transaction could not see.
#}
{% macro trigger_backfill_guest_deliveries(ctx) %}
    {%- set p = ctx.p -%}
    create or replace function {{ ctx.s }}.trigger_backfill_guest_deliveries()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_guest_ids uuid[];
    begin
        with taken as (
            update {{ p }}.guest_link_queue as queued
            set backfill_in_transaction = false
            where queued.enqueued_by = pg_catalog.pg_current_xact_id_if_assigned()
              and queued.backfill_in_transaction
            returning queued.guest_id
        )

        select pg_catalog.array_agg(distinct taken.guest_id) into v_guest_ids from taken;
        if v_guest_ids is not null then
            perform {{ p }}.backfill_guest_deliveries(v_guest_ids, 'guest_linked');
        end if;
        return null;
    end
    $function$;
    comment on function {{ ctx.s }}.trigger_backfill_guest_deliveries() is
        'delivery_linkage: AFTER statement trigger function on event_guests; backfills deliveries of guests that became linkable.';
{% endmacro %}
