{#
    backfill_guest_deliveries: gives the NULL deliveries of guests their guest's user.
    - private (guest_ids uuid[], reason text): set-based, one statement for any number of guests:
      only deliveries whose user_id is NULL, of guests that are active and linked now, of messages of
      the guest's event; rows another transaction holds, and users a transaction is deleting or
      re-keying, are skipped, never waited on (the sweeper retries them). The links are audited
      (message_deliveries_backfill, the given reason); with nothing linked the audit is not touched. While LINK_USER_BY_PHONE
      is off it links nothing and audits the deliveries it skipped. Used by the sweeper (a guest's link
      is backfilled there, after it commits) and the manual backfill. Returns how many deliveries it linked.
    - {{ s }}.backfill_guest_deliveries(guest_id, user_id): the runbook's manual backfill for one
      guest. It links, or says why not in a NOTICE (no such guest; guest removed; guest not linked;
      guest linked to another user; nothing left to link), and returns how many it linked.
#}
{% macro backfill_guest_deliveries(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.backfill_guest_deliveries(p_guest_ids uuid[], p_reason text)
    returns integer
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_linked integer;
        v_ids uuid[];
        v_users uuid[];
        v_events uuid[];
        v_messages uuid[];
    begin
        if not {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} then
            if not exists (
                select from unnest(p_guest_ids) as requested (guest_id)
                join {{ s }}.message_deliveries as delivery on delivery.guest_id = requested.guest_id and delivery.user_id is null
            ) then
                return 0;
            end if;
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries_backfill', 'skipped', 'feature_disabled', guest.event_id, delivery.message_id, "
                ~ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") ~ ", 0, "
                ~ "pg_catalog.array_agg(delivery.id), null::uuid[], null::uuid[], null::text[], null::integer[], null::uuid[] "
                ~ "from unnest(p_guest_ids) as requested (guest_id) "
                ~ "join " ~ s ~ ".event_guests as guest on guest.id = requested.guest_id and " ~ linkage_guest_is_linkable('guest') ~ " "
                ~ "join " ~ s ~ ".message_deliveries as delivery on delivery.guest_id = guest.id and delivery.user_id is null "
                ~ "group by guest.event_id, delivery.message_id") }};
            return 0;
        end if;

        with candidates as (
            select delivery.id, guest.user_id, guest.id as guest_id, guest.event_id, delivery.message_id
            from (select distinct requested.guest_id from unnest(p_guest_ids) as requested (guest_id)) as requested
            join {{ s }}.event_guests as guest
                on guest.id = requested.guest_id and {{ linkage_guest_is_linkable('guest') }}
            join {{ s }}.message_deliveries as delivery
                on delivery.guest_id = guest.id and delivery.user_id is null
            left join {{ s }}.messages as message on message.id = delivery.message_id
            where {{ linkage_guest_of_event('guest', 'message.event_id') }}
              and {{ linkage_user_is_free_to_link(s, 'guest.user_id') }}
            order by delivery.id
            for no key update of delivery skip locked
        ),

        linked as (
            {{ linkage_link_candidates(s) }}
        )

        select pg_catalog.array_agg(linked.id), pg_catalog.array_agg(linked.user_id),
               pg_catalog.array_agg(linked.event_id), pg_catalog.array_agg(linked.message_id)
        into v_ids, v_users, v_events, v_messages
        from linked;

        -- the audit is written only when something was linked: a guest link with nothing to backfill
        -- never touches the audit's storage
        if v_ids is not null then
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries_backfill', 'linked', p_reason, l.event_id, l.message_id, "
                ~ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") ~ ", 1, "
                ~ "pg_catalog.array_agg(l.id), pg_catalog.array_agg(l.user_id), null::uuid[], null::text[], null::integer[], null::uuid[] "
                ~ "from unnest(v_ids, v_users, v_events, v_messages) as l (id, user_id, event_id, message_id) "
                ~ "group by l.event_id, l.message_id") }};
        end if;
        v_linked := coalesce(pg_catalog.cardinality(v_ids), 0);
        return v_linked;
    end
    $function$;
    comment on function {{ p }}.backfill_guest_deliveries(uuid[], text) is
        'delivery_linkage: set-based backfill of guests'' NULL-user deliveries (rows held by others skipped), audited with the given reason; returns how many.';

    create or replace function {{ s }}.backfill_guest_deliveries(p_guest_id uuid, p_user_id uuid)
    returns integer
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_guest record;
        v_linked integer;
    begin
        select guest.id, guest.user_id, guest.removed_at into v_guest
        from {{ s }}.event_guests as guest where guest.id = p_guest_id;
        if not found then
            raise notice 'delivery_linkage: no guest % — nothing linked', p_guest_id;
            return 0;
        elsif v_guest.removed_at is not null then
            raise notice 'delivery_linkage: guest % was removed (at %) — its deliveries are not linked', p_guest_id, v_guest.removed_at;
            return 0;
        elsif v_guest.user_id is null then
            raise notice 'delivery_linkage: guest % is not linked to a user — link the guest (event_guests.user_id) and its deliveries follow', p_guest_id;
            return 0;
        elsif v_guest.user_id is distinct from p_user_id then
            raise notice 'delivery_linkage: guest % is linked to user %, not % — nothing linked', p_guest_id, v_guest.user_id, p_user_id;
            return 0;
        end if;
        {{ linkage_mark_own_writes(ctx) }}
        v_linked := {{ p }}.backfill_guest_deliveries(array[p_guest_id], 'manual_backfill');
        {{ linkage_unmark_own_writes(ctx) }}
        if v_linked = 0 then
            raise notice 'delivery_linkage: guest % has no delivery with a NULL user_id — nothing to link (deliveries of other events'' messages are never linked; a row another transaction holds is skipped, the sweeper links it)', p_guest_id;
        else
            raise notice 'delivery_linkage: linked % deliveries of guest % to user %', v_linked, p_guest_id, p_user_id;
        end if;
        return v_linked;
    end
    $function$;
    comment on function {{ s }}.backfill_guest_deliveries(uuid, uuid) is
        'delivery_linkage: the runbook''s manual backfill: links the NULL-user deliveries of one active guest to that guest''s user (which must be p_user_id), or says why not; returns how many.';
{% endmacro %}
