{#
    decide_delivery_links: the linkage rules, set-based, in one place. Given deliveries (or would-be
    deliveries) as parallel arrays, returns one decision per input row. Used by the insert trigger
    (the phone rules of the rows that need them) and its audit, the update trigger, link_user_by_phone
    and the historical backfill. The insert trigger's guest-record query and the statement audit's
    classification of guest-named rows are the same rules 0-2 written for one key lookup
    (tests/test_linkage_rules.py holds the two to the same answers).
    PL/pgSQL (RETURN QUERY) with one generic plan per session: a SQL-language function that cannot be
    inlined (SECURITY DEFINER, SET) is planned again at every call, which cost ~1 ms a call.

    0. LINK_USER_BY_PHONE off: skipped (feature_disabled).
    1. The event is the given event, else the message's event, else the guest's event. A named guest
       of another event than the message's: no_match (guest_other_event), final — never across events.
    2. Guest record: the named guest, active and linked, gives its user (guest_record).
       A named guest with the users fallback off ends here: guest_removed or guest_not_linked.
    3. Guest phone (a delivery naming no known guest, or the users fallback on): active guests of the
       event with the same normalized phone. More than one: no_match (ambiguous_guests), final.
       Exactly one, linked: its user (guest_phone), only for a delivery that names no guest; a
       delivery naming another guest is no_match (guest_mismatch).
    4. Users phone, only with LINK_USER_BY_PHONE_FALLBACK_TO_USERS: exactly one user (user_phone);
       more than one: no_match (ambiguous_users).
    5. Otherwise no_match, with the most telling reason (guest_not_linked when the named guest, or
       the one guest with that phone, has no account yet).
#}
{% macro decide_delivery_links(ctx) %}
    {%- set s = ctx.s -%}
    create or replace function {{ ctx.p }}.decide_delivery_links(
        p_record_ids uuid[],
        p_guest_ids uuid[],
        p_message_ids uuid[],
        p_event_ids uuid[],
        p_phones text[]
    )
    returns table (
        record_id uuid,
        event_id uuid,
        normalized_phone text,
        matched_guest_id uuid,
        linked_user_id uuid,
        outcome text,
        reason text,
        candidate_count integer,
        phone_fallback_enabled boolean
    )
    {{ linkage_definer_attributes('plpgsql', 'stable') }}
    set plan_cache_mode = force_generic_plan
    as $function$
    #variable_conflict use_column
    begin
        return query
        with flags as (
            select
                {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} as linking_enabled,
                {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }} as fallback_enabled
        ),

        requested as (
            select
                r.ordinality,
                r.record_id,
                r.guest_id,
                r.message_id,
                r.event_id as given_event_id,
                r.phone
            from unnest(p_record_ids, p_guest_ids, p_message_ids, p_event_ids, p_phones)
                with ordinality as r (record_id, guest_id, message_id, event_id, phone, ordinality)
        ),

        resolved as (
            select
                requested.*,
                guest.id is not null as guest_exists,
                guest.removed_at is null and guest.id is not null as guest_active,
                coalesce(not {{ linkage_guest_of_event('guest', 'coalesce(requested.given_event_id, message.event_id)') }}, false)
                    as guest_other_event,
                coalesce(
                    {{ linkage_guest_is_linkable('guest') }}
                    and {{ linkage_guest_of_event('guest', 'coalesce(requested.given_event_id, message.event_id)') }},
                    false
                ) as guest_linkable,
                guest.user_id as guest_user_id,
                coalesce(requested.given_event_id, message.event_id, guest.event_id) as event_id,
                {{ s }}.normalize_phone(requested.phone) as normalized_phone
            from requested
            left join {{ s }}.event_guests as guest on guest.id = requested.guest_id
            -- the message by its key, row by row (LATERAL … LIMIT 1 keeps the one generic plan from
            -- hash-joining a sequential scan of messages: under SERIALIZABLE that is a relation-level
            -- predicate lock, which every concurrent send, a new message, conflicted with)
            left join lateral (
                select m.event_id from {{ s }}.messages as m
                where m.id = requested.message_id and requested.given_event_id is null
                limit 1
            ) as message on true
        ),

        needs_phone as (
            select resolved.*
            from resolved cross join flags
            where flags.linking_enabled
              and not resolved.guest_linkable
              and not resolved.guest_other_event
              and (not resolved.guest_exists or flags.fallback_enabled)
              and resolved.normalized_phone is not null
              and resolved.event_id is not null
        ),

        guest_phone_matches as (
            select
                needs_phone.ordinality,
                pg_catalog.count(*)::integer as candidates,
                pg_catalog.min(guest.id::text)::uuid as guest_id,
                pg_catalog.min(guest.user_id::text)::uuid as user_id
            from needs_phone
            join {{ s }}.event_guests as guest
                on guest.event_id = needs_phone.event_id
                and {{ s }}.normalize_phone(guest.phone) = needs_phone.normalized_phone
                and guest.removed_at is null
            group by needs_phone.ordinality
        ),

        user_phone_matches as (
            select
                needs_phone.ordinality,
                pg_catalog.count(*)::integer as candidates,
                pg_catalog.min(app_user.id::text)::uuid as user_id
            from needs_phone
            cross join flags
            left join guest_phone_matches on guest_phone_matches.ordinality = needs_phone.ordinality
            join {{ s }}.users as app_user
                on {{ s }}.normalize_phone(app_user.phone) = needs_phone.normalized_phone
            where flags.fallback_enabled
              -- no match at the guest-phone step is NULL here, not "no": every test is coalesced
              and coalesce(guest_phone_matches.candidates, 0) <= 1
              and not coalesce(guest_phone_matches.candidates = 1 and guest_phone_matches.user_id is not null, false)
              and not coalesce(
                  guest_phone_matches.candidates = 1
                  and needs_phone.guest_id is not null
                  and guest_phone_matches.guest_id <> needs_phone.guest_id,
                  false
              )
            group by needs_phone.ordinality
        ),

        decided as (
            select
                resolved.ordinality,
                resolved.record_id,
                resolved.event_id,
                resolved.normalized_phone,
                resolved.guest_id,
                resolved.guest_user_id,
                guest_phone.guest_id as phone_guest_id,
                guest_phone.user_id as phone_guest_user_id,
                guest_phone.candidates as guest_candidates,
                user_phone.user_id as phone_user_id,
                user_phone.candidates as user_candidates,
                flags.fallback_enabled,
                case
                    when not flags.linking_enabled then 'feature_disabled'
                    when resolved.guest_other_event then 'guest_other_event'
                    when resolved.guest_linkable then 'guest_record'
                    when guest_phone.candidates > 1 then 'ambiguous_guests'
                    when guest_phone.candidates = 1 and guest_phone.user_id is not null
                        and resolved.guest_id is null then 'guest_phone'
                    when guest_phone.candidates = 1 and resolved.guest_id is not null
                        and guest_phone.guest_id <> resolved.guest_id then 'guest_mismatch'
                    when user_phone.candidates = 1 then 'user_phone'
                    when user_phone.candidates > 1 then 'ambiguous_users'
                    when resolved.guest_exists and not resolved.guest_active then 'guest_removed'
                    when resolved.guest_exists then 'guest_not_linked'
                    when guest_phone.candidates = 1 then 'guest_not_linked'
                    when resolved.event_id is null then 'no_event'
                    when pg_catalog.btrim(coalesce(resolved.phone, '')) = '' then 'no_phone'
                    when resolved.normalized_phone is null then 'invalid_phone'
                    else 'no_candidate'
                end as reason
            from resolved
            cross join flags
            left join guest_phone_matches as guest_phone on guest_phone.ordinality = resolved.ordinality
            left join user_phone_matches as user_phone on user_phone.ordinality = resolved.ordinality
        )

        select
            decided.record_id,
            decided.event_id,
            decided.normalized_phone,
            case
                when decided.reason in ('guest_record', 'guest_removed', 'guest_other_event') then decided.guest_id
                when decided.reason = 'guest_not_linked' then coalesce(decided.guest_id, decided.phone_guest_id)
                when decided.reason in ('guest_phone', 'guest_mismatch', 'user_phone', 'ambiguous_users')
                    then decided.phone_guest_id
            end as matched_guest_id,
            case decided.reason
                when 'guest_record' then decided.guest_user_id
                when 'guest_phone' then decided.phone_guest_user_id
                when 'user_phone' then decided.phone_user_id
            end as linked_user_id,
            case
                when decided.reason = 'feature_disabled' then 'skipped'
                when decided.reason in ('guest_record', 'guest_phone', 'user_phone') then 'linked'
                else 'no_match'
            end as outcome,
            decided.reason,
            case decided.reason
                when 'guest_record' then 1
                when 'guest_phone' then 1
                when 'guest_mismatch' then 1
                when 'user_phone' then 1
                when 'ambiguous_guests' then decided.guest_candidates
                when 'ambiguous_users' then decided.user_candidates
                -- the one guest named (or found by phone) that is not linkable
                when 'guest_not_linked' then 1
                when 'guest_removed' then 1
                when 'guest_other_event' then 1
                else 0
            end as candidate_count,
            decided.fallback_enabled as phone_fallback_enabled
        from decided
        order by decided.ordinality;
    end
    $function$;
    comment on function {{ ctx.p }}.decide_delivery_links(uuid[], uuid[], uuid[], uuid[], text[]) is
        'delivery_linkage: the linkage rules, set-based; one decision per input row. Changes nothing.';
{% endmacro %}
