-- Experiment: the historical backfill driven by guests, as the runbook's per-guest backfill is,
-- but batched and set-based. Phase 1, backfill_linkable_guests_batch: the next p_batch_size active
-- linked guests after p_after_id (keyset on event_guests.id) get their NULL-user deliveries in one
-- call of the set-based backfill_guest_deliveries(uuid[], uuid[], reason) (reason
-- historical_guest_record): only linkable guests and their NULL deliveries are read and locked.
-- Phase 2 (only the rows phase 1 cannot link: deliveries naming no guest, or every NULL-user
-- delivery while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is on) stays backfill_deliveries_batch over
-- delivery ids, through the phone rules. Returns the same columns as backfill_deliveries_batch;
-- last_id is a guest id.
create or replace function public.backfill_linkable_guests_batch(
    p_after_id uuid, p_batch_size integer, p_dry_run boolean
)
returns table (last_id uuid, scanned integer, linked integer, by_reason jsonb)
language plpgsql
volatile
security definer
set search_path = ''
as $function$
declare
    v_guest_ids uuid[];
    v_user_ids uuid[];
    v_scanned integer;
    v_linked integer;
begin
    select pg_catalog.array_agg(guest.id order by guest.id), pg_catalog.array_agg(guest.user_id order by guest.id)
    into v_guest_ids, v_user_ids
    from (
        select g.id, g.user_id
        from public.event_guests as g
        where g.user_id is not null
          and g.removed_at is null
          and (p_after_id is null or g.id > p_after_id)
        order by g.id
        limit greatest(p_batch_size, 1)
    ) as guest;
    v_scanned := coalesce(pg_catalog.array_length(v_guest_ids, 1), 0);
    if v_scanned = 0 or not public.get_feature_flag('LINK_USER_BY_PHONE') then
        return query select null::uuid, 0, 0, '{}'::jsonb;
        return;
    end if;
    if p_dry_run then
        select pg_catalog.count(*)::integer into v_linked
        from public.message_deliveries as delivery
        where delivery.guest_id = any(v_guest_ids) and delivery.user_id is null;
    else
        v_linked := public.backfill_guest_deliveries(v_guest_ids, v_user_ids, 'historical_guest_record');
    end if;
    return query select v_guest_ids[v_scanned], v_scanned, v_linked,
        case when v_linked > 0 then pg_catalog.jsonb_build_object('historical_guest_record', v_linked)
             else '{}'::jsonb end;
end
$function$;

-- Phase 2: backfill_deliveries_batch over the rows phase 1 cannot link (with the users fallback
-- off: deliveries naming no guest; with it on: every NULL-user delivery), otherwise as in
-- backfill_lock_only_linkable.sql. `linkage backfill` and the backfill_deliveries operation would
-- run phase 1 to its end, then phase 2.
create or replace function public.backfill_deliveries_batch(
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
    v_fallback boolean := public.get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS');
    v_ids uuid[];
    v_guest_ids uuid[];
    v_message_ids uuid[];
    v_phones text[];
begin
    select pg_catalog.array_agg(w.id order by w.id) into v_window
    from (
        select delivery.id
        from public.message_deliveries as delivery
        where delivery.user_id is null
          and (v_fallback or delivery.guest_id is null)
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
            from public.message_deliveries as delivery
            left join public.event_guests as guest on guest.id = delivery.guest_id
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
            from public.message_deliveries as delivery
            left join public.event_guests as guest on guest.id = delivery.guest_id
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
            from public.decide_delivery_links(
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
        from public.decide_delivery_links(
            v_ids, v_guest_ids, v_message_ids,
            pg_catalog.array_fill(null::uuid, array[pg_catalog.array_length(v_ids, 1)]), v_phones
        ) as decision
        where decision.outcome = 'linked'
    ),

    applied as (
        update public.message_deliveries as delivery
        set user_id = decisions.linked_user_id
        from decisions
        where delivery.id = decisions.record_id
          and delivery.user_id is null
        returning delivery.id
    ),

    audited as (
        insert into public.user_link_audit (
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
