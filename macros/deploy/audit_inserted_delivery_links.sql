{#
    audit_inserted_delivery_links: statement-level AFTER INSERT trigger function on message_deliveries.
    Writes the audit rows of a whole INSERT (one row per attempt) in one statement, from the transition
    table: the decision comes from decide_delivery_links, the outcome from what the row trigger did.
    Rows that arrived with a user_id from the app are not attempts and are left out. An error here is
    reported as a WARNING and never fails the app's insert.
    Rows the row trigger linked by guest record (the common case) are audited straight from a join of
    the transition table with their guests; decide_delivery_links runs only when some row is not.
    Flags are read with one query (get_feature_flag is a SQL function call per use).
#}
{% macro audit_inserted_delivery_links(s) %}
    create or replace function {{ s }}.audit_inserted_delivery_links()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_app_linked text := coalesce(pg_catalog.current_setting('delivery_linkage.app_linked_ids', true), '');
        v_app_linked_ids uuid[];
        v_linking boolean;
        v_fallback boolean;
        v_other_ids uuid[];
        v_xact_id xid8;
    begin
        if v_app_linked <> '' then
            perform pg_catalog.set_config('delivery_linkage.app_linked_ids', '', true);
            if v_app_linked = '*' then
                v_xact_id := pg_catalog.pg_current_xact_id();
            else
                v_app_linked_ids := pg_catalog.string_to_array(v_app_linked, ',')::uuid[];
            end if;
        end if;
        select coalesce(pg_catalog.bool_or(f.enabled) filter (where f.flag_name = 'LINK_USER_BY_PHONE'), false),
               coalesce(pg_catalog.bool_or(f.enabled) filter (where f.flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'), false)
        into v_linking, v_fallback
        from {{ s }}.feature_flags as f
        where f.flag_name in ('LINK_USER_BY_PHONE', 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS');
        begin
            with attempts as (
                select inserted.id, inserted.guest_id, inserted.phone_number, inserted.user_id, guest.event_id,
                       (v_linking and guest.removed_at is null and guest.user_id = inserted.user_id) as by_guest_record
                from inserted_deliveries as inserted
                left join {{ s }}.event_guests as guest on guest.id = inserted.guest_id
                where v_app_linked = ''
                   or (v_app_linked = '*' and not exists (
                       select 1 from {{ s }}.app_linked_spill as spill
                       where spill.xact_id = v_xact_id and spill.delivery_id = inserted.id
                   ))
                   or (v_app_linked <> '*' and inserted.id <> all (v_app_linked_ids))
            ),

            audited as (
                insert into {{ s }}.user_link_audit (
                    table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                    outcome, reason, candidate_count, phone_fallback_enabled
                )
                select
                    'message_deliveries', attempts.id, attempts.event_id, {{ s }}.normalize_phone(attempts.phone_number),
                    attempts.guest_id, attempts.user_id, 'linked', 'guest_record', 1, v_fallback
                from attempts
                where attempts.by_guest_record
                returning 1
            )

            -- the rest, exactly as classified here: a second look at the guests would see a newer snapshot
            select pg_catalog.array_agg(attempts.id) into v_other_ids
            from attempts where not coalesce(attempts.by_guest_record, false);

            if v_other_ids is not null then
                with attempts as (
                    select inserted.id, inserted.guest_id, inserted.message_id, inserted.phone_number::text as phone,
                           inserted.user_id
                    from pg_catalog.unnest(v_other_ids) as other (id)
                    join inserted_deliveries as inserted on inserted.id = other.id
                ),

                decisions as (
                    select d.*
                    from {{ s }}.decide_delivery_links(
                        (select pg_catalog.array_agg(attempts.id) from attempts),
                        (select pg_catalog.array_agg(attempts.guest_id) from attempts),
                        (select pg_catalog.array_agg(attempts.message_id) from attempts),
                        (select pg_catalog.array_fill(null::uuid, array[pg_catalog.count(*)::integer]) from attempts),
                        (select pg_catalog.array_agg(attempts.phone) from attempts)
                    ) as d
                )

                insert into {{ s }}.user_link_audit (
                    table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                    outcome, reason, candidate_count, phone_fallback_enabled
                )
                select
                    'message_deliveries',
                    attempts.id,
                    decisions.event_id,
                    decisions.normalized_phone,
                    decisions.matched_guest_id,
                    attempts.user_id,
                    case
                        when attempts.user_id is not null then 'linked'
                        when decisions.outcome = 'linked' then 'no_match'
                        else decisions.outcome
                    end,
                    case
                        when attempts.user_id is not null and decisions.outcome <> 'linked' then 'concurrent_change'
                        when attempts.user_id is null and decisions.outcome = 'linked' then 'concurrent_change'
                        else decisions.reason
                    end,
                    case
                        when attempts.user_id is not null and decisions.outcome <> 'linked' then 1
                        else decisions.candidate_count
                    end,
                    decisions.phone_fallback_enabled
                from attempts
                join decisions on decisions.record_id = attempts.id;
            end if;

            -- deliveries left unlinked for an existing guest: a guest link that cannot see them fails instead
            insert into {{ s }}.guest_link_fences as fence (guest_id)
            select distinct inserted.guest_id
            from inserted_deliveries as inserted
            join {{ s }}.event_guests as guest on guest.id = inserted.guest_id
            where inserted.user_id is null
            order by 1
            on conflict (guest_id) do update set touched_at = excluded.touched_at;
        exception
            when serialization_failure or deadlock_detected or lock_not_available then
                raise;
            when others then
                raise warning 'delivery_linkage: audit of inserted deliveries failed: % (%)', sqlerrm, sqlstate;
        end;
        if v_xact_id is not null then
            delete from {{ s }}.app_linked_spill as spill where spill.xact_id = v_xact_id;
        end if;
        return null;
    end
    $function$;
    comment on function {{ s }}.audit_inserted_delivery_links() is
        'delivery_linkage: AFTER INSERT statement trigger function; one audit INSERT per statement.';
{% endmacro %}
