{#
    backfill_deliveries_batch: one batch of the historical backfill (run-operation backfill_deliveries,
    `linkage backfill`). Takes the next p_batch_size deliveries with a NULL user_id after p_after_id
    (keyset on id, rows locked by others are skipped and picked up by the next run), decides them with
    the insert trigger's rules and links those that link. Audited as message_deliveries_backfill with
    reason historical_<rule>. A dry run changes nothing and writes no audit. The caller commits
    between batches; an interrupted run is simply run again.
    Only the rows of the window that can link are locked and decided: with the users fallback off a
    delivery that names a guest links by guest record only, so rows naming a guest that is not
    linkable are skipped without a lock (they cannot link; nothing was ever audited for them).
#}
{% macro backfill_deliveries_batch(ctx) %}
    {%- set s = ctx.s -%}
    create or replace function {{ ctx.p }}.backfill_deliveries_batch(
        p_after_id uuid, p_batch_size integer, p_dry_run boolean
    )
    returns table (last_id uuid, scanned integer, linked integer, by_reason jsonb)
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_window uuid[];
        v_scanned integer;
        v_fallback boolean := {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }};
        v_ids uuid[];
        v_guest_ids uuid[];
        v_message_ids uuid[];
        v_phones text[];
        v_linked_ids uuid[];
        v_linked_messages uuid[];
        v_linked_events uuid[];
        v_linked_phones text[];
        v_linked_guests uuid[];
        v_linked_users uuid[];
        v_linked_reasons text[];
        v_linked_counts integer[];
        v_linked_fallbacks boolean[];
    begin
        select pg_catalog.array_agg(w.id order by w.id) into v_window
        from (
            select delivery.id
            from {{ s }}.message_deliveries as delivery
            where delivery.user_id is null
              and (p_after_id is null or delivery.id > p_after_id)
            order by delivery.id
            limit greatest(p_batch_size, 1)
        ) as w;
        v_scanned := coalesce(pg_catalog.array_length(v_window, 1), 0);
        if v_scanned = 0 then
            return query select null::uuid, 0, 0, '{}'::jsonb;
            return;
        end if;

        -- the rows of the window that can link (with the users fallback off, a delivery naming a guest
        -- links by guest record only); a real run locks them, skipping rows another transaction holds
        select pg_catalog.array_agg(c.id order by c.id), pg_catalog.array_agg(c.guest_id order by c.id),
               pg_catalog.array_agg(c.message_id order by c.id), pg_catalog.array_agg(c.phone order by c.id)
        into v_ids, v_guest_ids, v_message_ids, v_phones
        from {{ ctx.p }}.backfill_candidates(v_window, v_fallback, not p_dry_run) as c;

        if v_ids is null then
            return query select v_window[v_scanned], v_scanned, 0, '{}'::jsonb;
            return;
        end if;

        -- the decisions, once; a dry run reports them, a real run applies them
        select pg_catalog.array_agg(decision.record_id), pg_catalog.array_agg(decision.event_id),
               pg_catalog.array_agg(decision.normalized_phone), pg_catalog.array_agg(decision.matched_guest_id),
               pg_catalog.array_agg(decision.linked_user_id), pg_catalog.array_agg('historical_' || decision.reason),
               pg_catalog.array_agg(decision.candidate_count), pg_catalog.array_agg(decision.phone_fallback_enabled)
        into v_linked_ids, v_linked_events, v_linked_phones, v_linked_guests, v_linked_users,
             v_linked_reasons, v_linked_counts, v_linked_fallbacks
        from {{ ctx.p }}.decide_delivery_links(
            v_ids, v_guest_ids, v_message_ids,
            pg_catalog.array_fill(null::uuid, array[pg_catalog.array_length(v_ids, 1)]), v_phones
        ) as decision
        where decision.outcome = 'linked';

        if not p_dry_run and v_linked_ids is not null then
            {{ linkage_mark_own_writes(ctx) }}
            with applied as (
                update {{ s }}.message_deliveries as delivery
                set user_id = decided.user_id
                from unnest(v_linked_ids, v_linked_users) as decided (id, user_id)
                where delivery.id = decided.id
                  and delivery.user_id is null
                  -- a user another transaction is deleting or re-keying is left for a later run
                  and {{ linkage_user_is_free_to_link(s, 'decided.user_id') }}
                returning delivery.id, delivery.message_id
            )

            -- keep only what was applied (a row linked meanwhile by someone else is not ours)
            select pg_catalog.array_agg(l.id), pg_catalog.array_agg(applied.message_id), pg_catalog.array_agg(l.event_id),
                   pg_catalog.array_agg(l.phone), pg_catalog.array_agg(l.guest_id), pg_catalog.array_agg(l.user_id),
                   pg_catalog.array_agg(l.reason), pg_catalog.array_agg(l.candidates), pg_catalog.array_agg(l.fallback)
            into v_linked_ids, v_linked_messages, v_linked_events, v_linked_phones, v_linked_guests, v_linked_users,
                 v_linked_reasons, v_linked_counts, v_linked_fallbacks
            from unnest(v_linked_ids, v_linked_events, v_linked_phones, v_linked_guests, v_linked_users,
                                   v_linked_reasons, v_linked_counts, v_linked_fallbacks)
                as l (id, event_id, phone, guest_id, user_id, reason, candidates, fallback)
            join applied on applied.id = l.id;
            {{ linkage_unmark_own_writes(ctx) }}
        end if;

        if not p_dry_run and v_linked_ids is not null then
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries_backfill'::text, 'linked'::text, l.reason, l.event_id, l.message_id, l.fallback, null::integer, "
                ~ "pg_catalog.array_agg(l.id), pg_catalog.array_agg(l.user_id), pg_catalog.array_agg(l.guest_id), "
                ~ "pg_catalog.array_agg(l.phone), pg_catalog.array_agg(l.candidates), null::uuid[] "
                ~ "from unnest(v_linked_ids, v_linked_messages, v_linked_events, v_linked_phones, v_linked_guests, "
                ~ "v_linked_users, v_linked_reasons, v_linked_counts, v_linked_fallbacks) "
                ~ "as l (id, message_id, event_id, phone, guest_id, user_id, reason, candidates, fallback) "
                ~ "group by l.reason, l.event_id, l.message_id, l.fallback") }};
        end if;

        return query
        select v_window[v_scanned],
               v_scanned,
               coalesce(pg_catalog.cardinality(v_linked_ids), 0),
               (select coalesce(pg_catalog.jsonb_object_agg(counted.reason, counted.n), '{}'::jsonb)
                from (select r.reason, pg_catalog.count(*) as n from unnest(v_linked_reasons) as r (reason)
                      group by r.reason) as counted);
    end
    $function$;
    comment on function {{ ctx.p }}.backfill_deliveries_batch(uuid, integer, boolean) is
        'delivery_linkage: one batch of the historical backfill; returns the last id scanned, rows scanned, rows linked.';

    create or replace function {{ ctx.p }}.backfill_candidates(p_window uuid[], p_fallback boolean, p_lock boolean)
    returns table (id uuid, guest_id uuid, message_id uuid, phone text)
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    begin
        -- one candidate query: a real run locks the rows (skipping rows others hold), a dry run does not
        return query execute
            $candidates$
            select delivery.id, delivery.guest_id, delivery.message_id, delivery.phone_number::text
            from {{ s }}.message_deliveries as delivery
            left join {{ s }}.event_guests as guest on guest.id = delivery.guest_id
            where delivery.id = any($1)
              and delivery.user_id is null
              and ($2 or delivery.guest_id is null or coalesce({{ linkage_guest_is_linkable('guest') }}, false))
            order by delivery.id
            $candidates$ || case when p_lock then ' for no key update of delivery skip locked' else '' end
            using p_window, p_fallback;
    end
    $function$;
    comment on function {{ ctx.p }}.backfill_candidates(uuid[], boolean, boolean) is
        'delivery_linkage: the deliveries of a historical backfill window that can link (locked for a real run).';
{% endmacro %}
