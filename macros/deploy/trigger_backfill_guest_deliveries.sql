{#
    trigger_backfill_guest_deliveries: statement-level AFTER trigger function on event_guests.
    Finds the guests of the statement that became linkable (user_id set while active, restored while
    linked, relinked to another user, or inserted active and linked) and backfills all their NULL-user
    deliveries with one set-based call of backfill_guest_deliveries. With LINK_USER_BY_PHONE off it
    links nothing and audits the deliveries it skipped. Errors other than concurrency ones become a
    WARNING: the guest update itself never fails because of the linkage.
#}
{% macro trigger_backfill_guest_deliveries(s) %}
    create or replace function {{ s }}.trigger_backfill_guest_deliveries()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_guest_ids uuid[];
        v_user_ids uuid[];
    begin
        if tg_op = 'UPDATE' then
            select pg_catalog.array_agg(new_guest.id), pg_catalog.array_agg(new_guest.user_id)
            into v_guest_ids, v_user_ids
            from new_guests as new_guest
            join old_guests as old_guest on old_guest.id = new_guest.id
            where new_guest.user_id is not null
              and new_guest.removed_at is null
              and (old_guest.user_id is distinct from new_guest.user_id or old_guest.removed_at is not null);
        else
            select pg_catalog.array_agg(new_guest.id), pg_catalog.array_agg(new_guest.user_id)
            into v_guest_ids, v_user_ids
            from new_guests as new_guest
            where new_guest.user_id is not null
              and new_guest.removed_at is null;
        end if;
        if v_guest_ids is null then
            return null;
        end if;

        begin
            if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
                -- this backfill reads the transaction snapshot: fail (the app retries) rather than miss a
                -- delivery left unlinked for one of these guests by a transaction committed after it
                insert into {{ s }}.guest_link_fences as fence (guest_id)
                select requested.guest_id from pg_catalog.unnest(v_guest_ids) as requested (guest_id)
                order by 1
                on conflict (guest_id) do update set touched_at = excluded.touched_at;
            end if;
            if {{ s }}.get_feature_flag('LINK_USER_BY_PHONE') then
                perform {{ s }}.backfill_guest_deliveries(v_guest_ids, v_user_ids, 'guest_linked');
            else
                insert into {{ s }}.user_link_audit (
                    table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                    outcome, reason, candidate_count, phone_fallback_enabled
                )
                select
                    'message_deliveries_backfill', delivery.id, guest.event_id,
                    {{ s }}.normalize_phone(delivery.phone_number), guest.id, null,
                    'skipped', 'feature_disabled', 0,
                    {{ s }}.get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS')
                from unnest(v_guest_ids) as requested (guest_id)
                join {{ s }}.event_guests as guest on guest.id = requested.guest_id
                join {{ s }}.message_deliveries as delivery
                    on delivery.guest_id = guest.id and delivery.user_id is null;
            end if;
        exception
            when serialization_failure or deadlock_detected or lock_not_available then
                raise;
            when others then
                raise warning 'delivery_linkage: backfill on guest link failed: % (%)', sqlerrm, sqlstate;
        end;
        return null;
    end
    $function$;
    comment on function {{ s }}.trigger_backfill_guest_deliveries() is
        'delivery_linkage: AFTER statement trigger function on event_guests; backfills deliveries of guests that became linkable.';
{% endmacro %}
