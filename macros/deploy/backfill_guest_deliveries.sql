{#
    backfill_guest_deliveries: gives the deliveries of guests their guest's user.
    - (guest_ids uuid[], user_ids uuid[], reason text): set-based, one UPDATE and one audit INSERT
      for any number of guests; used by trigger_backfill_guest_deliveries.
    - (guest_id uuid, user_id uuid): the runbook's manual backfill for one guest.
    Only deliveries whose user_id is NULL are touched, and only for guests that are active and
    currently linked to that very user. Returns how many deliveries were linked.
#}
{% macro backfill_guest_deliveries(s) %}
    create or replace function {{ s }}.backfill_guest_deliveries(
        p_guest_ids uuid[], p_user_ids uuid[], p_reason text
    )
    returns integer
    language sql
    volatile
    security definer
    set search_path = ''
    as $function$
        with targets as (
            select guest.id as guest_id, guest.user_id, guest.event_id
            from unnest(p_guest_ids, p_user_ids) as requested (guest_id, user_id)
            join {{ s }}.event_guests as guest
                on guest.id = requested.guest_id
                and guest.user_id = requested.user_id
                and guest.removed_at is null
        ),

        linked as (
            update {{ s }}.message_deliveries as delivery
            set user_id = targets.user_id
            from targets
            where delivery.guest_id = targets.guest_id
              and delivery.user_id is null
            returning delivery.id, delivery.phone_number, targets.guest_id, targets.user_id, targets.event_id
        ),

        audited as (
            insert into {{ s }}.user_link_audit (
                table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
                outcome, reason, candidate_count, phone_fallback_enabled
            )
            select
                'message_deliveries_backfill', linked.id, linked.event_id,
                {{ s }}.normalize_phone(linked.phone_number), linked.guest_id, linked.user_id,
                'linked', p_reason, 1, (select {{ s }}.get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS'))
            from linked
            returning 1
        )

        select pg_catalog.count(*)::integer from audited
    $function$;

    create or replace function {{ s }}.backfill_guest_deliveries(p_guest_id uuid, p_user_id uuid)
    returns integer
    language sql
    volatile
    security definer
    set search_path = ''
    as $function$
        select {{ s }}.backfill_guest_deliveries(array[p_guest_id], array[p_user_id], 'manual_backfill')
    $function$;
    comment on function {{ s }}.backfill_guest_deliveries(uuid, uuid) is
        'delivery_linkage: links the NULL-user deliveries of one active guest to that guest''s user (which must be p_user_id); returns how many.';
    comment on function {{ s }}.backfill_guest_deliveries(uuid[], uuid[], text) is
        'delivery_linkage: set-based backfill of many guests'' deliveries, audited with the given reason; returns how many.';
{% endmacro %}
