{#
    audit_inserted_delivery_links: statement-level AFTER INSERT trigger function on message_deliveries
    (trigger_message_deliveries_audit_links). From the statement's transition table, in a few
    set-based statements:
    - the attempts' audit, grouped (link_attempts): rows the row trigger linked by guest record (their
      ids and users), rows left alone while linking was off (skipped), rows the phone rules decided
      (their notes); rows whose user_id came from the app are not attempts and are left out;
    - the commit check of the rows left for a guest that is not linkable yet (commit_checks), whose
      attempt is audited at commit, when it is known whether the guest became linkable meanwhile.
    Without notes (the common case) it reads no other table than messages, for the groups' event.
    An audit write that fails keeps the groups in audit_write_failures (linkage_write_attempts); the
    app's insert never fails because of the audit.
#}
{% macro linkage_unnoted_attempt_groups(ctx, unnoted_filter) -%}
    select
        'message_deliveries'::text,
        case when row_attempt.linked then 'linked' else 'skipped' end,
        case when row_attempt.linked then 'guest_record' else 'feature_disabled' end,
        row_attempt.event_id,
        row_attempt.message_id,
        v_fallback,
        case when row_attempt.linked then 1 else 0 end,
        pg_catalog.array_agg(row_attempt.id),
        case when row_attempt.linked then pg_catalog.array_agg(row_attempt.user_id) end,
        null::uuid[],
        null::text[],
        null::integer[],
        null::uuid[]
    from (
        select
            inserted.id,
            inserted.user_id,
            inserted.message_id,
            inserted.user_id is not null as linked,
            coalesce(
                message.event_id,
                (select guest.event_id from {{ ctx.s }}.event_guests as guest where guest.id = inserted.guest_id)
            ) as event_id
        from inserted_deliveries as inserted
        left join {{ ctx.s }}.messages as message on message.id = inserted.message_id
        where (inserted.user_id is not null or v_linking_off)
          and {{ unnoted_filter }}
    ) as row_attempt
    group by row_attempt.linked, row_attempt.event_id, row_attempt.message_id
{%- endmacro %}


{% macro audit_inserted_delivery_links(ctx) %}
    {%- set p = ctx.p -%}
    {%- set notes = "unnest(v_note_record_ids, v_note_kinds, v_note_event_ids, v_note_phones, v_note_guest_ids, v_note_user_ids, v_note_outcomes, v_note_reasons, v_note_counts, v_note_fallbacks, v_note_pending) as note (record_id, kind, event_id, normalized_phone, matched_guest_id, linked_user_id, outcome, reason, candidate_count, phone_fallback_enabled, pending)" -%}
    {%- set noted = "inserted.id = any(v_note_record_ids)" -%}
    create or replace function {{ p }}.audit_inserted_delivery_links()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_note_rows tid[] := {{ linkage_remembered_rows('delivery_linkage.note_ctids') }};
        v_linking_off boolean := pg_catalog.current_setting('delivery_linkage.linking_off', true) is not distinct from 'on';
        v_fallback boolean := {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }};
        v_attempt_group record;
        v_queued text;
        v_note_record_ids uuid[];
        v_note_kinds text[];
        v_note_event_ids uuid[];
        v_note_phones text[];
        v_note_guest_ids uuid[];
        v_note_user_ids uuid[];
        v_note_outcomes text[];
        v_note_reasons text[];
        v_note_counts integer[];
        v_note_fallbacks boolean[];
        v_note_pending boolean[];
    begin
        if v_linking_off then
            perform pg_catalog.set_config('delivery_linkage.linking_off', 'off', true);
        end if;
        if v_note_rows is not null then
            perform pg_catalog.set_config('delivery_linkage.note_ctids', '', true);
        end if;
        -- no row of this statement reached auto_link_user_by_phone_trigger (every user_id came from the
        -- app, or the runbook's rollback plan disabled trigger_message_deliveries_auto_link_user): no
        -- attempt, nothing to audit or check. That trigger reads the flags once per statement, keyed by
        -- statement_timestamp() (linkage_flags_of_statement): the key tells whether it ran.
        if pg_catalog.split_part(coalesce(pg_catalog.current_setting('delivery_linkage.flags', true), ''), '|', 1)
            <> (extract(epoch from pg_catalog.statement_timestamp()) * 1000000)::bigint::text
        then
            delete from {{ p }}.insert_notes as note where note.ctid = any(v_note_rows);
            return null;
        end if;

        if v_note_rows is null then
            -- the common case: every row was linked by its guest record, or left for its guest
            if not v_linking_off then
                {{ linkage_queue_commit_checks(ctx,
                    "insert into " ~ p ~ ".commit_checks (kind, record_ids, guest_ids, message_ids, phones)
                    select 'unlinked_deliveries', pg_catalog.array_agg(inserted.id), pg_catalog.array_agg(inserted.guest_id),
                           pg_catalog.array_agg(inserted.message_id), pg_catalog.array_agg(inserted.phone_number::text)
                    from inserted_deliveries as inserted
                    where inserted.user_id is null
                    having pg_catalog.count(*) > 0") }}
            end if;
            {{ linkage_write_attempts(ctx, linkage_unnoted_attempt_groups(ctx, 'true')) }}
            return null;
        end if;

        -- the statement's notes, read by their ctids and let go
        with taken as (
            delete from {{ p }}.insert_notes as note where note.ctid = any(v_note_rows) returning note.*
        )
        select pg_catalog.array_agg(taken.record_id), pg_catalog.array_agg(taken.kind), pg_catalog.array_agg(taken.event_id),
               pg_catalog.array_agg(taken.normalized_phone), pg_catalog.array_agg(taken.matched_guest_id),
               pg_catalog.array_agg(taken.linked_user_id), pg_catalog.array_agg(taken.outcome), pg_catalog.array_agg(taken.reason),
               pg_catalog.array_agg(taken.candidate_count), pg_catalog.array_agg(taken.phone_fallback_enabled),
               pg_catalog.array_agg(taken.pending)
        into v_note_record_ids, v_note_kinds, v_note_event_ids, v_note_phones, v_note_guest_ids, v_note_user_ids,
             v_note_outcomes, v_note_reasons, v_note_counts, v_note_fallbacks, v_note_pending
        from taken;
        v_note_record_ids := coalesce(v_note_record_ids, '{}');

        {{ linkage_queue_commit_checks(ctx,
            "insert into " ~ p ~ ".commit_checks (kind, record_ids, guest_ids, message_ids, phones, audited)
            select 'unlinked_deliveries', pg_catalog.array_agg(inserted.id), pg_catalog.array_agg(inserted.guest_id),
                   pg_catalog.array_agg(inserted.message_id), pg_catalog.array_agg(inserted.phone_number::text),
                   note.record_id is not null
            from inserted_deliveries as inserted
            left join " ~ notes ~ "
                on note.record_id = inserted.id and note.kind = 'decided'
            where inserted.user_id is null
              and ((note.record_id is null and not v_linking_off) or note.pending)
            group by note.record_id is not null") }}

        {{ linkage_write_attempts(ctx,
            linkage_unnoted_attempt_groups(ctx, "not " ~ noted)
            ~ "
            union all
            select
                'message_deliveries'::text, note.outcome, note.reason, note.event_id, inserted.message_id,
                note.phone_fallback_enabled, null::integer,
                pg_catalog.array_agg(inserted.id), pg_catalog.array_agg(note.linked_user_id),
                pg_catalog.array_agg(note.matched_guest_id), pg_catalog.array_agg(note.normalized_phone),
                pg_catalog.array_agg(note.candidate_count), null::uuid[]
            from inserted_deliveries as inserted
            join " ~ notes ~ "
                on note.record_id = inserted.id and note.kind = 'decided'
            group by note.outcome, note.reason, note.event_id, inserted.message_id, note.phone_fallback_enabled") }}
        return null;
    end
    $function$;
    comment on function {{ p }}.audit_inserted_delivery_links() is
        'delivery_linkage: AFTER INSERT statement trigger function: the audit of a whole INSERT in one write, and the commit checks of its unlinked rows.';
{% endmacro %}
