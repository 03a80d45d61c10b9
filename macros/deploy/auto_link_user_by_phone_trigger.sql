{#
    auto_link_user_by_phone_trigger: the runbook's row-level BEFORE INSERT trigger function on
    message_deliveries, called only for rows that arrive with no user_id (the WHEN clause of
    trigger_message_deliveries_auto_link_user; rows the app linked never reach it).

    One query reads the row's guest and the two flags. Then:
    - the guest is linkable (rule 2, guest record): the row gets the guest's user. The common case;
      nothing else is done per row (the statement trigger writes the audit, set-based);
    - linking is off: left alone (audited `skipped` by the statement trigger);
    - the guest exists but is not linkable yet, users fallback off: left NULL, and the row's lock
      partition is remembered in the transaction (delivery_linkage.pending_partitions); the statement
      trigger queues the commit-time check (run_commit_checks) that closes the race with a
      concurrent guest link. No lock is taken here: a send never waits on anything;
    - anything else (no guest, an unknown guest, the users fallback on): the phone rules
      (decide_delivery_links) for this row, noted in insert_notes with the full decision.
    Never raises on bad data: every lookup is by key, every phone goes through normalize_phone.
#}
{% macro auto_link_user_by_phone_trigger(ctx) %}
    create or replace function {{ ctx.s }}.auto_link_user_by_phone_trigger()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_linking boolean;
        v_fallback boolean;
        v_guest_found boolean;
        v_guest_linkable boolean;
        v_guest_user_id uuid;
        v_guest_event_id uuid;
        v_user_available boolean;
        v_decision record;
        v_note tid;
        v_flags text;
    begin
        {{ linkage_flags_of_statement(ctx) }}
        select guest.id is not null,
               coalesce({{ linkage_guest_is_linkable('guest') }}, false),
               guest.user_id,
               guest.event_id,
               -- the guest's user, unless a transaction is deleting it right now (the row is locked):
               -- copying a user that is going away would turn the app's insert into a foreign-key error
               (select true from {{ ctx.s }}.users as app_user where app_user.id = guest.user_id for key share skip locked)
        into v_guest_found, v_guest_linkable, v_guest_user_id, v_guest_event_id, v_user_available
        from (select) as one
        left join {{ ctx.s }}.event_guests as guest on guest.id = new.guest_id;

        if not v_linking then
            perform pg_catalog.set_config('delivery_linkage.linking_off', 'on', true);
            return new;
        elsif v_guest_linkable and v_user_available then
            new.user_id := v_guest_user_id;
            return new;
        elsif v_guest_found and (not v_fallback or v_guest_linkable) then
            -- not linkable yet (or its user is being deleted): the commit check looks again
            perform {{ linkage_remember_pending_partition('v_guest_event_id') }};
            return new;
        end if;

        select d.* into v_decision
        from {{ ctx.p }}.decide_delivery_links(
            array[new.id], array[new.guest_id], array[new.message_id], array[null]::uuid[], array[new.phone_number::text]
        ) as d;
        if v_decision.outcome = 'linked' then
            new.user_id := v_decision.linked_user_id;
        elsif v_guest_found then
            perform {{ linkage_remember_pending_partition('v_guest_event_id') }};
        end if;
        insert into {{ ctx.p }}.insert_notes (
            record_id, kind, event_id, guest_id, normalized_phone, matched_guest_id, linked_user_id,
            outcome, reason, candidate_count, phone_fallback_enabled, pending
        ) values (
            new.id, 'decided', v_decision.event_id, new.guest_id, v_decision.normalized_phone,
            v_decision.matched_guest_id, v_decision.linked_user_id, v_decision.outcome, v_decision.reason,
            v_decision.candidate_count, v_decision.phone_fallback_enabled,
            v_guest_found and v_decision.outcome <> 'linked'
        ) returning ctid into v_note;
        perform {{ linkage_remember_row('delivery_linkage.note_ctids', 'v_note') }};
        return new;
    end
    $function$;
    comment on function {{ ctx.s }}.auto_link_user_by_phone_trigger() is
        'delivery_linkage: BEFORE INSERT row trigger function linking a delivery that arrives with no user_id to its user.';
{% endmacro %}
