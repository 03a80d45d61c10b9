{#
    audit_inserted_delivery_links: statement-level AFTER INSERT trigger function on message_deliveries
    (trigger_message_deliveries_audit_links). The whole INSERT's audit, from its transition table, in
    one statement:
    - rows the app sent with its own user_id were noted by the row trigger (app_linked_deliveries):
      their notes are taken and deleted, and they are not attempts;
    - every other row with a user was linked by the row trigger: a link by guest record (the phone
      rules' links are decided again, below);
    - a NULL row gets its guest's state as its reason (one key lookup each; the message once):
      guest_not_linked, guest_removed, guest_other_event; feature_disabled while LINK_USER_BY_PHONE is
      off; deferred when its guest is linkable (its user's row was locked, or the guest was linked while
      the statement ran);
    - the guests of deferred rows, and under REPEATABLE READ / SERIALIZABLE the guests of every row
      left NULL (the transaction's snapshot may predate their link), go to guest_link_queue;
    - the attempts go to link_attempts grouped by outcome, reason, event and message (a delivery's
      id, and for a link its user: 32 bytes an attempt).
    Rows the phone rules decide (no known guest named, or, while the users fallback is on, a guest
    not linkable) are decided again with decide_delivery_links, in a second statement that runs only
    when there are such rows; a guest's record comes first, fallback or not. With
    the row trigger disabled (the runbook's rollback plan) nothing was attempted and nothing is audited.
#}
{% macro audit_inserted_delivery_links(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.audit_inserted_delivery_links()
    returns trigger
    {{ linkage_definer_attributes('plpgsql') }}
    as $function$
    declare
        v_phone_rows uuid[];
    begin
        with flags as (
            select
                {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} as linking,
                {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }} as fallback,
                pg_catalog.current_setting('transaction_isolation') <> 'read committed' as snapshot_isolation,
                coalesce((
                    select t.tgenabled in ('O', 'A') from pg_catalog.pg_trigger as t
                    where t.tgrelid = '{{ s }}.message_deliveries'::regclass
                      and t.tgname = 'trigger_message_deliveries_auto_link_user'
                ), false) as attempted
        ),

        app_linked as (
            -- every note of this transaction: also those of rows an upsert proposed and then updated
            -- instead (ON CONFLICT DO UPDATE), which never reach the transition table
            delete from {{ p }}.app_linked_deliveries as note
            where note.transaction_id = pg_catalog.pg_current_xact_id()
            returning note.delivery_id
        ),

        statement_messages as materialized (
            select sent.message_id, message.event_id
            from (select distinct inserted.message_id from inserted_deliveries as inserted) as sent
            left join lateral (
                select m.event_id from {{ s }}.messages as m where m.id = sent.message_id limit 1
            ) as message on true
        ),

        classified as (
            select
                inserted.id,
                inserted.message_id,
                inserted.guest_id,
                inserted.user_id,
                coalesce(statement_message.event_id, guest.event_id) as event_id,
                case
                    when not flags.attempted then null
                    when inserted.user_id is not null
                        and exists (select from app_linked where app_linked.delivery_id = inserted.id) then null
                    when inserted.guest_id is null or guest.id is null then 'phone_rules'
                    -- the users fallback on: the guest's record still comes first (rule 2), so only the rows
                    -- of a guest not linkable, or linked to another user than its guest's, are the phone rules'
                    when flags.fallback
                        and not coalesce(
                            {{ linkage_guest_is_linkable('guest') }}
                            and {{ linkage_guest_of_event('guest', 'statement_message.event_id') }}
                            and (inserted.user_id is null or inserted.user_id = guest.user_id),
                            false
                        )
                        then 'phone_rules'
                    when inserted.user_id is not null then 'guest_record'
                    when not flags.linking then 'feature_disabled'
                    -- never across events, whatever else holds (decide_delivery_links' rule 1)
                    when not {{ linkage_guest_of_event('guest', 'statement_message.event_id') }} then 'guest_other_event'
                    when not {{ linkage_guest_is_active('guest') }} then 'guest_removed'
                    when guest.user_id is null then 'guest_not_linked'
                    else 'deferred'
                end as reason
            from inserted_deliveries as inserted
            cross join flags
            left join statement_messages as statement_message on statement_message.message_id = inserted.message_id
            left join lateral (
                select g.id, g.user_id, g.event_id, g.removed_at
                from {{ s }}.event_guests as g
                where g.id = inserted.guest_id
                limit 1
            ) as guest on true
        ),

        queued as (
            insert into {{ p }}.guest_link_queue (guest_id)
            select distinct classified.guest_id
            from classified
            cross join flags
            where classified.reason = 'deferred'
               or (flags.snapshot_isolation and classified.reason in ('guest_not_linked', 'guest_removed'))
        ),

        audited as (
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries', " ~ linkage_outcome_of_reason('classified.reason') ~ ", classified.reason,
                    classified.event_id, classified.message_id, flags.fallback,
                    case when classified.reason = 'feature_disabled' then 0 else 1 end,
                    pg_catalog.array_agg(classified.id),
                    case when classified.reason = 'guest_record' then pg_catalog.array_agg(classified.user_id) end,
                    null::uuid[], null::text[], null::integer[], null::uuid[]
                from classified
                cross join flags
                where classified.reason <> 'phone_rules'
                group by classified.reason, classified.event_id, classified.message_id, flags.fallback") }}
        )

        select pg_catalog.array_agg(classified.id) filter (where classified.reason = 'phone_rules')
        into v_phone_rows
        from classified;

        if v_phone_rows is not null then
            -- the rows the phone rules decide, as classified above (a flag read again here could have
            -- changed since, at READ COMMITTED): decided again, set-based, for their audit
            with phone_rows as (
                select inserted.id, inserted.guest_id, inserted.message_id, inserted.user_id, inserted.phone_number::text as phone
                from inserted_deliveries as inserted
                where inserted.id = any(v_phone_rows)
            ),

            decided as (
                select phone_rows.user_id as row_user_id, phone_rows.message_id, phone_rows.guest_id, decision.*,
                       case
                           -- the rules chose a user the row did not get: its user's row was locked
                           when phone_rows.user_id is null and decision.outcome = 'linked'
                               then case when decision.reason = 'guest_record' then 'deferred' else 'user_locked' end
                           when phone_rows.user_id is null then decision.reason
                           -- linked by the row trigger: by the rule that decides it now, or (its guest or
                           -- phone changed meanwhile) by the phone
                           when decision.outcome = 'linked' and decision.linked_user_id = phone_rows.user_id
                               then decision.reason
                           else 'guest_phone'
                       end as audited_reason
                from phone_rows
                join {{ p }}.decide_delivery_links(
                    (select pg_catalog.array_agg(r.id order by r.id) from phone_rows as r),
                    (select pg_catalog.array_agg(r.guest_id order by r.id) from phone_rows as r),
                    (select pg_catalog.array_agg(r.message_id order by r.id) from phone_rows as r),
                    (select pg_catalog.array_fill(null::uuid, array[pg_catalog.count(*)::integer]) from phone_rows as r),
                    (select pg_catalog.array_agg(r.phone order by r.id) from phone_rows as r)
                ) as decision on decision.record_id = phone_rows.id
            ),

            queued as (
                insert into {{ p }}.guest_link_queue (guest_id)
                select distinct decided.guest_id from decided
                where decided.audited_reason = 'deferred'
                   or (pg_catalog.current_setting('transaction_isolation') <> 'read committed'
                       and decided.guest_id is not null and decided.audited_reason in ('guest_not_linked', 'guest_removed'))
            )

            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries', " ~ linkage_outcome_of_reason('decided.audited_reason') ~ ", decided.audited_reason,
                    decided.event_id, decided.message_id, decided.phone_fallback_enabled, null::integer,
                    pg_catalog.array_agg(decided.record_id),
                    pg_catalog.array_agg(decided.row_user_id),
                    pg_catalog.array_agg(decided.matched_guest_id), pg_catalog.array_agg(decided.normalized_phone),
                    pg_catalog.array_agg(decided.candidate_count), null::uuid[]
                from decided
                group by decided.audited_reason, decided.event_id, decided.message_id, decided.phone_fallback_enabled") }};
        end if;
        return null;
    end
    $function$;
    comment on function {{ p }}.audit_inserted_delivery_links() is
        'delivery_linkage: AFTER INSERT statement trigger function: the audit of a whole INSERT in one write, and the queue entries of rows left for the sweeper.';
{% endmacro %}
