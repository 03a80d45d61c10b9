{#
    auto_link_user_by_phone_trigger: row-level BEFORE trigger function on message_deliveries.

    INSERT with user_id NULL: the guest record in one indexed lookup (the common case); a guest that
    exists but is not linkable yet is re-read FOR SHARE, so a concurrent transaction that is linking it
    either commits first (and is seen here) or waits for this insert (and its backfill sees it);
    a delivery that names a guest can link no other way unless LINK_USER_BY_PHONE_FALLBACK_TO_USERS
    is on (the guest phone rule only links deliveries that name no guest), so only deliveries naming
    no guest, or any with the fallback on, go through the phone rules of decide_delivery_links.
    The audit rows of an INSERT are written once per statement by audit_inserted_delivery_links.
    INSERT with user_id set by the app: left alone, and remembered so the audit leaves it out.
    UPDATE that changes guest_id, phone_number or user_id and leaves user_id NULL: decided and audited here.
    Never raises on bad data: every lookup is by key, every phone goes through normalize_phone.
#}
{% macro auto_link_user_by_phone_trigger(s) %}
    create or replace function {{ s }}.auto_link_user_by_phone_trigger()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_linking_enabled boolean;
        v_fallback_enabled boolean;
        v_guest_exists boolean;
        v_guest_user_id uuid;
        v_guest_active boolean;
        v_app_linked text;
        v_decision record;
    begin
        if tg_op = 'INSERT' and new.user_id is not null then
            v_app_linked := pg_catalog.current_setting('delivery_linkage.app_linked_ids', true);
            if v_app_linked is null or v_app_linked = '' then
                v_app_linked := new.id::text;
            elsif v_app_linked = '*' then
                insert into {{ s }}.app_linked_spill (xact_id, delivery_id)
                values (pg_catalog.pg_current_xact_id(), new.id)
                on conflict do nothing;
            elsif pg_catalog.length(v_app_linked) > 37000 then
                -- too many for the setting: these and the rest of the statement's go to app_linked_spill
                insert into {{ s }}.app_linked_spill (xact_id, delivery_id)
                select pg_catalog.pg_current_xact_id(), app.id
                from pg_catalog.unnest(pg_catalog.string_to_array(v_app_linked || ',' || new.id::text, ',')::uuid[])
                    as app (id)
                on conflict do nothing;
                v_app_linked := '*';
            else
                v_app_linked := v_app_linked || ',' || new.id::text;
            end if;
            perform pg_catalog.set_config('delivery_linkage.app_linked_ids', v_app_linked, true);
            return new;
        end if;
        if tg_op = 'UPDATE' and pg_catalog.current_setting('delivery_linkage.suppress', true) = 'on' then
            return new;
        end if;
        if tg_op = 'UPDATE' and new.user_id is not null then
            -- the app gave a linked delivery another user (its upsert writes excluded.user_id, which this
            -- trigger decided for the proposed row from the guest's current user): kept, and recorded
            -- under its own table_name, so neither the success rate nor rollback_links_since count it
            insert into {{ s }}.user_link_audit (
                table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                outcome, reason, candidate_count, previous_user_id
            ) values (
                'message_deliveries_app_update', new.id, null, {{ s }}.normalize_phone(new.phone_number), new.guest_id,
                new.user_id, 'linked', 'app_update', 0, old.user_id
            );
            return new;
        end if;

        select
            (select f.enabled from {{ s }}.feature_flags as f where f.flag_name = 'LINK_USER_BY_PHONE' limit 1),
            (select f.enabled from {{ s }}.feature_flags as f
             where f.flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS' limit 1),
            guest.id is not null,
            guest.user_id,
            guest.removed_at is null
        into v_linking_enabled, v_fallback_enabled, v_guest_exists, v_guest_user_id, v_guest_active
        from (select 1) as one
        left join {{ s }}.event_guests as guest on guest.id = new.guest_id;

        if coalesce(v_linking_enabled, false) then
            if v_guest_exists and not (v_guest_active and v_guest_user_id is not null) then
                select guest.user_id, guest.removed_at is null
                into v_guest_user_id, v_guest_active
                from {{ s }}.event_guests as guest
                where guest.id = new.guest_id
                for share;
            end if;
            if v_guest_exists and v_guest_active and v_guest_user_id is not null then
                new.user_id := v_guest_user_id;
                if tg_op = 'INSERT' then
                    return new;
                end if;
            end if;
            -- a delivery naming a guest links by guest record only, unless the users fallback is on:
            -- nothing else to decide per row; the statement's audit writes the reason
            if tg_op = 'INSERT' and new.guest_id is not null and not coalesce(v_fallback_enabled, false) then
                return new;
            end if;
        elsif tg_op = 'INSERT' then
            return new;
        end if;

        select d.* into v_decision
        from {{ s }}.decide_delivery_links(
            array[new.id], array[new.guest_id], array[new.message_id], array[null]::uuid[], array[new.phone_number::text]
        ) as d;
        if new.user_id is null and v_decision.outcome = 'linked' then
            new.user_id := v_decision.linked_user_id;
        end if;
        if tg_op = 'UPDATE' then
            if new.user_id is null and v_guest_exists then
                insert into {{ s }}.guest_link_fences as fence (guest_id) values (new.guest_id)
                on conflict (guest_id) do update set touched_at = excluded.touched_at;
            end if;
            insert into {{ s }}.user_link_audit (
                table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                outcome, reason, candidate_count, phone_fallback_enabled
            ) values (
                'message_deliveries', new.id, v_decision.event_id, v_decision.normalized_phone,
                v_decision.matched_guest_id, new.user_id,
                case when new.user_id is not null then 'linked' when v_decision.outcome = 'linked' then 'no_match'
                     else v_decision.outcome end,
                v_decision.reason, v_decision.candidate_count, v_decision.phone_fallback_enabled
            );
        end if;
        return new;
    end
    $function$;
    comment on function {{ s }}.auto_link_user_by_phone_trigger() is
        'delivery_linkage: BEFORE row trigger function linking a delivery with a NULL user_id to its user.';
{% endmacro %}
