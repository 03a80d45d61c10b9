{#
    trigger_backfill_guest_deliveries: the runbook's statement-level AFTER trigger function on
    event_guests (trigger_backfill_deliveries_on_guest_link on UPDATE,
    trigger_backfill_deliveries_on_guest_insert on INSERT). Finds the statement's guests that became
    linkable (linked while active, restored while linked, relinked to another user, inserted active and
    linked) and gives all their NULL-user deliveries their user in one set-based call of
    backfill_guest_deliveries, now, so the app sees the links in its own transaction.
    It takes no lock: it notes, for the commit check (run_commit_checks), the lock partitions of the
    guests' events, the send clocks of those partitions as they were before the backfill's snapshot,
    whether a send was committing there at that moment, and that snapshot. At commit, a send that
    committed meanwhile with a delivery for one of these guests is caught and linked (READ COMMITTED),
    or the transaction gets a serialization failure to retry (REPEATABLE READ, SERIALIZABLE: its
    snapshot cannot see the delivery).
    With LINK_USER_BY_PHONE off it links nothing and audits the deliveries it skipped.
#}
{% macro trigger_backfill_guest_deliveries(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ s }}.trigger_backfill_guest_deliveries()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_guest_ids uuid[];
        v_user_ids uuid[];
        v_partitions integer[];
        v_clocks bigint[];
        v_attempt_group record;
        v_queued text;
    begin
        if tg_op = 'UPDATE' then
            select pg_catalog.array_agg(new_guest.id order by new_guest.id),
                   pg_catalog.array_agg(new_guest.user_id order by new_guest.id),
                   pg_catalog.array_agg({{ linkage_partition('new_guest.event_id') }} order by new_guest.id)
            into v_guest_ids, v_user_ids, v_partitions
            from new_guests as new_guest
            join old_guests as old_guest on old_guest.id = new_guest.id
            where {{ linkage_guest_is_linkable('new_guest') }}
              and not ({{ linkage_guest_is_linkable('old_guest') }} and old_guest.user_id = new_guest.user_id);
        else
            select pg_catalog.array_agg(new_guest.id order by new_guest.id),
                   pg_catalog.array_agg(new_guest.user_id order by new_guest.id),
                   pg_catalog.array_agg({{ linkage_partition('new_guest.event_id') }} order by new_guest.id)
            into v_guest_ids, v_user_ids, v_partitions
            from new_guests as new_guest
            where {{ linkage_guest_is_linkable('new_guest') }};
        end if;
        if v_guest_ids is null then
            return null;
        end if;

        if not {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} then
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries_backfill'::text, 'skipped'::text, 'feature_disabled'::text, guest.event_id, delivery.message_id, "
                ~ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") ~ ", 0, "
                ~ "pg_catalog.array_agg(delivery.id), null::uuid[], null::uuid[], null::text[], null::integer[], null::uuid[] "
                ~ "from unnest(v_guest_ids) as requested (guest_id) "
                ~ "join " ~ s ~ ".event_guests as guest on guest.id = requested.guest_id "
                ~ "join " ~ s ~ ".message_deliveries as delivery on delivery.guest_id = guest.id and delivery.user_id is null "
                ~ "group by guest.event_id, delivery.message_id") }}
            return null;
        end if;

        -- the send clocks of the partitions, before the snapshot below; -1 where a send is committing
        -- there right now (it holds its partition's lock shared until its commit is complete)
        with committing as (
            select pg_catalog.array_agg(held.objid::integer) as partitions
            from pg_catalog.pg_locks as held
            where held.locktype = 'advisory' and held.classid = {{ linkage_lock_namespace() }}::oid
              and held.objsubid = 2 and held.granted and held.pid <> pg_catalog.pg_backend_pid()
        )
        select pg_catalog.array_agg(
            case
                when not (part.number = any(v_partitions)) then null
                when part.number = any(coalesce(committing.partitions, '{}')) then -1
                else coalesce(pg_catalog.pg_sequence_last_value({{ linkage_send_clock(ctx, 'part.number') }}), 0)
            end
            order by part.number)
        into v_clocks
        from pg_catalog.generate_series(0, {{ linkage_partition_count() }} - 1) as part (number)
        cross join committing;

        {{ linkage_queue_commit_checks(ctx,
            "insert into " ~ p ~ ".commit_checks (kind, guest_ids, user_ids, partitions, send_clocks, link_snapshot)
            values ('linked_guests', v_guest_ids, v_user_ids, v_partitions, v_clocks, pg_catalog.pg_current_snapshot())") }}

        perform {{ p }}.backfill_guest_deliveries(v_guest_ids, v_user_ids, 'guest_linked');
        return null;
    end
    $function$;
    comment on function {{ s }}.trigger_backfill_guest_deliveries() is
        'delivery_linkage: AFTER statement trigger function on event_guests; backfills deliveries of guests that became linkable.';
{% endmacro %}
