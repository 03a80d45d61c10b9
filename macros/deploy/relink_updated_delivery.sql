{#
    relink_updated_delivery: row-level BEFORE UPDATE trigger function on message_deliveries, called
    only when an update touches the link (trigger_message_deliveries_auto_link_user_on_update's WHEN
    clause): guest_id or phone_number changed on a delivery left with no user, user_id cleared, or
    user_id set or changed. A status update never calls it; neither do the linkage's own updates
    (backfills, commit checks, rollbacks: delivery_linkage.writing is on).
    - user_id cleared because its user is being deleted (the ON DELETE SET NULL action of the
      foreign key; the user row is already gone): never linked back to that user, which would leave
      the delivery pointing at no user. When the rules give another user (the guest was relinked
      since), the delivery gets that one, audited; otherwise it stays NULL, with no audit row.
    - left with no user (guest/phone changed, or cleared by the app): an attempt, decided by the rules
      and audited; a delivery still waiting for its guest is queued for the commit check.
    - user_id set or changed by the app: kept. When it is exactly the user the rules give (the app's
      upsert writing `user_id = excluded.user_id`, which the insert trigger chose), it is audited as the
      linkage's link; otherwise as message_deliveries_app_update, with the previous user.
#}
{% macro relink_updated_delivery(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.relink_updated_delivery()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_decision record;
        v_table_name text := 'message_deliveries';
        v_outcome text;
        v_reason text;
        v_attempt_group record;
        v_queued text;
    begin
        select d.* into v_decision
        from {{ p }}.decide_delivery_links(
            array[new.id], array[new.guest_id], array[new.message_id], array[null]::uuid[], array[new.phone_number::text]
        ) as d;

        if new.user_id is null and old.user_id is not null
            and not exists (select 1 from {{ s }}.users as app_user where app_user.id = old.user_id)
        then
            -- the ON DELETE SET NULL action of a user's deletion: never back to that user; the guest's
            -- user when it is another one (the guest was relinked since), else left NULL and not audited
            if v_decision.outcome is distinct from 'linked' or v_decision.linked_user_id = old.user_id then
                return new;
            end if;
            new.user_id := v_decision.linked_user_id;
            v_outcome := 'linked';
            v_reason := v_decision.reason;
        elsif new.user_id is null then
            if v_decision.outcome = 'linked' then
                new.user_id := v_decision.linked_user_id;
            end if;
            v_outcome := v_decision.outcome;
            v_reason := v_decision.reason;
            if v_decision.reason in ('guest_not_linked', 'guest_removed') and v_decision.matched_guest_id = new.guest_id then
                -- waiting for its guest: the commit check closes the race with a concurrent guest link
                perform {{ linkage_remember_pending_partition('v_decision.event_id') }};
                {{ linkage_queue_commit_checks(ctx,
                    "insert into " ~ p ~ ".commit_checks (kind, record_ids, guest_ids, message_ids, phones, audited)
                    values ('unlinked_deliveries', array[new.id], array[new.guest_id], array[new.message_id],
                            array[new.phone_number::text], true)") }}
            end if;
        elsif v_decision.outcome = 'linked' and v_decision.linked_user_id = new.user_id then
            v_outcome := 'linked';
            v_reason := v_decision.reason;
        else
            v_table_name := 'message_deliveries_app_update';
            v_outcome := 'linked';
            v_reason := 'app_update';
        end if;

        {{ linkage_write_attempts(ctx,
            "select v_table_name, v_outcome, v_reason, v_decision.event_id, new.message_id, v_decision.phone_fallback_enabled, "
            ~ "case when v_table_name = 'message_deliveries' then v_decision.candidate_count else 0 end, "
            ~ "array[new.id], array[new.user_id], array[case when v_table_name = 'message_deliveries' then v_decision.matched_guest_id else new.guest_id end], "
            ~ "array[v_decision.normalized_phone], null::integer[], array[old.user_id]") }}
        return new;
    end
    $function$;
    comment on function {{ p }}.relink_updated_delivery() is
        'delivery_linkage: BEFORE UPDATE row trigger function for updates that touch a delivery''s link (never status updates).';
{% endmacro %}
