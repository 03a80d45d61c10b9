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
{% macro backfill_deliveries_batch(s) %}
    create or replace function {{ s }}.backfill_deliveries_batch(
        p_after_id uuid, p_batch_size integer, p_dry_run boolean
    )
    returns table (last_id uuid, scanned integer, linked integer, by_reason jsonb)
    language plpgsql
    volatile
    security definer
    set search_path = ''
    as $function$
    declare
        v_window uuid[];
        v_scanned integer;
        v_fallback boolean := {{ s }}.get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS');
        v_ids uuid[];
        v_guest_ids uuid[];
        v_message_ids uuid[];
        v_phones text[];
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

        if p_dry_run then
            select pg_catalog.array_agg(c.id order by c.id), pg_catalog.array_agg(c.guest_id order by c.id),
                   pg_catalog.array_agg(c.message_id order by c.id), pg_catalog.array_agg(c.phone order by c.id)
            into v_ids, v_guest_ids, v_message_ids, v_phones
            from (
                select delivery.id, delivery.guest_id, delivery.message_id, delivery.phone_number::text as phone
                from {{ s }}.message_deliveries as delivery
                left join {{ s }}.event_guests as guest on guest.id = delivery.guest_id
                where delivery.id = any(v_window)
                  and delivery.user_id is null
                  and (v_fallback or delivery.guest_id is null or (guest.removed_at is null and guest.user_id is not null))
            ) as c;
        else
            select pg_catalog.array_agg(c.id order by c.id), pg_catalog.array_agg(c.guest_id order by c.id),
                   pg_catalog.array_agg(c.message_id order by c.id), pg_catalog.array_agg(c.phone order by c.id)
            into v_ids, v_guest_ids, v_message_ids, v_phones
            from (
                select delivery.id, delivery.guest_id, delivery.message_id, delivery.phone_number::text as phone
                from {{ s }}.message_deliveries as delivery
                left join {{ s }}.event_guests as guest on guest.id = delivery.guest_id
                where delivery.id = any(v_window)
                  and delivery.user_id is null
                  and (v_fallback or delivery.guest_id is null or (guest.removed_at is null and guest.user_id is not null))
                order by delivery.id
                for no key update of delivery skip locked
            ) as c;
        end if;

        if v_ids is null then
            return query select v_window[v_scanned], v_scanned, 0, '{}'::jsonb;
            return;
        end if;

        if p_dry_run then
            return query
            with decisions as (
                select decision.reason
                from {{ s }}.decide_delivery_links(
                    v_ids, v_guest_ids, v_message_ids,
                    pg_catalog.array_fill(null::uuid, array[pg_catalog.array_length(v_ids, 1)]), v_phones
                ) as decision
                where decision.outcome = 'linked'
            )

            select v_window[v_scanned],
                   v_scanned,
                   (select pg_catalog.count(*)::integer from decisions),
                   (select coalesce(pg_catalog.jsonb_object_agg('historical_' || counted.reason, counted.n), '{}'::jsonb)
                    from (select decisions.reason, pg_catalog.count(*) as n from decisions group by decisions.reason) as counted);
            return;
        end if;

        return query
        with decisions as (
            select decision.*
            from {{ s }}.decide_delivery_links(
                v_ids, v_guest_ids, v_message_ids,
                pg_catalog.array_fill(null::uuid, array[pg_catalog.array_length(v_ids, 1)]), v_phones
            ) as decision
            where decision.outcome = 'linked'
        ),

        applied as (
            update {{ s }}.message_deliveries as delivery
            set user_id = decisions.linked_user_id
            from decisions
            where delivery.id = decisions.record_id
              and delivery.user_id is null
            returning delivery.id
        ),

        audited as (
            insert into {{ s }}.user_link_audit (
                table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                outcome, reason, candidate_count, phone_fallback_enabled
            )
            select
                'message_deliveries_backfill', decisions.record_id, decisions.event_id, decisions.normalized_phone,
                decisions.matched_guest_id, decisions.linked_user_id, 'linked', 'historical_' || decisions.reason,
                decisions.candidate_count, decisions.phone_fallback_enabled
            from decisions
            join applied on applied.id = decisions.record_id
            returning reason
        )

        select v_window[v_scanned],
               v_scanned,
               (select pg_catalog.count(*)::integer from audited),
               (select coalesce(pg_catalog.jsonb_object_agg(counted.reason, counted.n), '{}'::jsonb)
                from (select audited.reason, pg_catalog.count(*) as n from audited group by audited.reason) as counted);
    end
    $function$;
    comment on function {{ s }}.backfill_deliveries_batch(uuid, integer, boolean) is
        'delivery_linkage: one batch of the historical backfill; returns the last id scanned, rows scanned, rows linked.';
{% endmacro %}
