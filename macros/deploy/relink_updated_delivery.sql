{#
    relink_updated_delivery: row-level BEFORE UPDATE trigger function on message_deliveries, called
    only for an update that touches a delivery's link (trigger_message_deliveries_auto_link_user_on_update's
    WHEN clause): one that leaves it with no user (user_id cleared, or guest or phone changed on a
    delivery with no user), or — outside any trigger — one that sets or changes its user. A status
    update never calls it, nor does a guest link's backfill (it runs inside a trigger).
    - the linkage's own writes (sweeper, manual and historical backfill, rollback: their transaction is
      in own_write_transactions): left alone.
    - a user set or changed by the app (an upsert's `user_id = excluded.user_id` among them, which
      carries the insert trigger's choice): kept; when it is the user the rules give, audited as that
      link (with the previous user), otherwise audited as the app's write (message_deliveries_app_update,
      not an attempt): every user a delivery gets outside the linkage's own writes has its audit row,
      also the one an upsert's row trigger chose before its guest changed while it waited for the row.
    - user_id cleared by the ON DELETE SET NULL of a user's deletion (that user is gone): never
      linked back to that user. When its guest has been linked to another user since, the delivery
      gets that user (guest_relinked, audited); otherwise it stays NULL, with no audit row.
    - otherwise an attempt, decided by the rules as an insert is (the guest-record query, then the
      phone rules where they apply) and audited; left for the sweeper when its guest is linkable but
      its user's row is locked, or (REPEATABLE READ / SERIALIZABLE) whenever it stays NULL.
#}
{% macro relink_updated_delivery(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.relink_updated_delivery()
    returns trigger
    {{ linkage_definer_attributes('plpgsql') }}
    as $function$
    declare
        v_guest record;
        v_decision record;
        v_reason text;
        v_event_id uuid;
        v_matched_guest_id uuid;
        v_phone text;
        v_candidates integer := 1;
        v_chosen uuid;
    begin
        if exists (
            select from {{ p }}.own_write_transactions as own
            where own.transaction_id = pg_catalog.pg_current_xact_id()
        ) then
            return new;
        end if;

        select
            guest.id is not null as found,
            guest.user_id,
            {{ linkage_guest_is_linkable('guest') }} and {{ linkage_guest_of_event('guest', 'message.event_id') }} as linkable,
            {{ linkage_guest_is_active('guest') }} as active,
            {{ linkage_guest_of_event('guest', 'message.event_id') }} as of_event,
            coalesce(message.event_id, guest.event_id) as event_id,
            {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} as linking,
            {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }} as fallback
        into v_guest
        from (select) as one
        left join {{ s }}.event_guests as guest on guest.id = new.guest_id
        left join {{ s }}.messages as message on message.id = new.message_id;
        v_event_id := v_guest.event_id;
        v_matched_guest_id := new.guest_id;
        v_phone := {{ s }}.normalize_phone(new.phone_number::text);

        if new.user_id is null and old.user_id is not null
            and not exists (select from {{ s }}.users as app_user where app_user.id = old.user_id)
        then
            -- a user's deletion (ON DELETE SET NULL): only a guest relinked to another user since gives one
            if v_guest.linking and v_guest.linkable and v_guest.user_id <> old.user_id
                and {{ linkage_user_is_free_to_link(s, 'v_guest.user_id') }}
            then
                new.user_id := v_guest.user_id;
                v_reason := 'guest_relinked';
            else
                return new;
            end if;
        elsif not v_guest.linking then
            v_reason := case when new.user_id is not null then 'app_update' else 'feature_disabled' end;
        elsif v_guest.found and not v_guest.fallback then
            -- rule 2 and the guest's state, as at insert
            if v_guest.linkable then
                v_chosen := v_guest.user_id;
                v_reason := 'guest_record';
            elsif not v_guest.active then
                v_reason := 'guest_removed';
            elsif not v_guest.of_event then
                v_reason := 'guest_other_event';
            else
                v_reason := 'guest_not_linked';
            end if;
        else
            select decision.* into v_decision
            from {{ p }}.decide_delivery_links(
                array[new.id], array[new.guest_id], array[new.message_id], array[null]::uuid[], array[new.phone_number::text]
            ) as decision;
            v_reason := v_decision.reason;
            v_event_id := v_decision.event_id;
            v_matched_guest_id := v_decision.matched_guest_id;
            v_phone := v_decision.normalized_phone;
            v_candidates := v_decision.candidate_count;
            if v_decision.outcome = 'linked' then
                v_chosen := v_decision.linked_user_id;
            end if;
        end if;

        if new.user_id is not null and v_reason not in ('guest_relinked', 'app_update') then
            -- the app set or changed the user: kept; the link the rules give, audited as such, any other
            -- user as the app's write (among them the user an upsert's row trigger chose for its proposed
            -- row, when the guest changed while the upsert waited for the delivery's row)
            if v_chosen is distinct from new.user_id then
                v_reason := 'app_update';
            end if;
        elsif v_chosen is not null then
            if {{ linkage_user_is_free_to_link(s, 'v_chosen') }} then
                new.user_id := v_chosen;
            else
                v_reason := case when v_reason = 'guest_record' then 'deferred' else 'user_locked' end;
            end if;
        end if;

        if v_reason = 'deferred'
            or (new.user_id is null and v_guest.found
                and pg_catalog.current_setting('transaction_isolation') <> 'read committed')
        then
            insert into {{ p }}.guest_link_queue (guest_id) values (new.guest_id);
        end if;
        {{ linkage_write_attempts(ctx,
            "select case when v_reason = 'app_update' then 'message_deliveries_app_update' else 'message_deliveries' end,
                case when v_reason = 'app_update' then 'linked' else " ~ linkage_outcome_of_reason('v_reason') ~ " end,
                v_reason, v_event_id, new.message_id, v_guest.fallback,
                case when v_reason = 'feature_disabled' then 0 when v_reason = 'app_update' then null else v_candidates end,
                array[new.id], array[new.user_id], array[v_matched_guest_id], array[v_phone], null::integer[], array[old.user_id]") }};
        return new;
    end
    $function$;
    comment on function {{ p }}.relink_updated_delivery() is
        'delivery_linkage: BEFORE UPDATE row trigger function for updates that touch a delivery''s link (never status updates nor a guest link''s backfill).';
{% endmacro %}
