{#
    run_commit_checks: the race guard between sends and guest links, run at commit by the deferred
    constraint trigger trigger_commit_checks_at_commit (the first of a transaction's events does all of
    that transaction's queued work; the others find nothing).

    The race (issue 2): a delivery inserted while its guest is being linked by another transaction.
    Neither side can see the other's uncommitted row, so each leaves its work to its commit, where the
    two meet on an advisory lock per partition of events (linkage_partition; 16 partitions):
    - a transaction that made guests linkable takes its partitions EXCLUSIVE;
    - a transaction that left deliveries for guests that were not linkable takes its partitions SHARED
      (sends never wait on sends).
    All partitions are taken in one pass in ascending order, and only at commit, when no statement of
    the app is left to run: nobody waits on a lock while the app might be waiting on them, so the
    protocol adds no deadlock; a send waits only while a guest link of its partition is committing.
    Then:
    - guest links: a send that left a delivery for one of these guests and committed after the link's
      backfill looked shows in the partition's send clock (changed, or still holding its lock when the
      link looked, or not visible in the snapshot the backfill used). READ COMMITTED: those guests are
      backfilled again with a fresh snapshot. REPEATABLE READ / SERIALIZABLE: a serialization failure
      (40001), which the app retries — its snapshot cannot see the delivery.
    - sends: the guests are read again (READ COMMITTED: fresh, so a link committed meanwhile is seen
      and the delivery is linked now, as a backfill; REPEATABLE READ / SERIALIZABLE: the guest rows are
      locked FOR SHARE SKIP LOCKED, which fails with 40001 if a guest changed after the snapshot); the attempts
      not yet audited are audited (no_match, with the guest's state as reason); the partitions that
      still hold deliveries waiting for a guest get this transaction's id in their send clock.
#}
{% macro run_commit_checks(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.run_commit_checks()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_transaction_id xid8 := pg_catalog.pg_current_xact_id();
        v_queued_rows tid[] := {{ linkage_remembered_rows('delivery_linkage.commit_check_ctids') }};
        v_snapshot_isolation boolean := pg_catalog.current_setting('transaction_isolation') <> 'read committed';
        v_sender_mask integer := coalesce(nullif(pg_catalog.current_setting('delivery_linkage.pending_partitions', true), '')::integer, 0);
        v_links jsonb;
        v_pending_ids uuid[];
        v_pending_guests uuid[];
        v_pending_audited boolean[];
        v_pending_messages uuid[];
        v_pending_phones text[];
        v_attempt_ids uuid[];
        v_attempt_guests uuid[];
        v_attempt_messages uuid[];
        v_attempt_phones text[];
        v_linker_partitions integer[];
        v_partition integer;
        v_recheck_guests uuid[];
        v_recheck_users uuid[];
        v_waiting_partitions integer[];
        v_attempt_group record;
    begin
        if v_queued_rows is null then
            return null;  -- an earlier event of this transaction did all of its work
        end if;
        perform pg_catalog.set_config('delivery_linkage.commit_check_ctids', '', true);

        with taken as (
            delete from {{ p }}.commit_checks as queued
            where queued.ctid = any(v_queued_rows)
            returning queued.*
        ),

        links as (
            select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'guest_ids', taken.guest_ids, 'user_ids', taken.user_ids, 'partitions', taken.partitions,
                'send_clocks', taken.send_clocks, 'link_snapshot', taken.link_snapshot::text
            )) as checks
            from taken where taken.kind = 'linked_guests'
        ),

        pending as (
            select pg_catalog.array_agg(entry.record_id) as record_ids,
                   pg_catalog.array_agg(entry.guest_id) as guest_ids,
                   pg_catalog.array_agg(entry.message_id) as message_ids,
                   pg_catalog.array_agg(entry.phone) as phones,
                   pg_catalog.array_agg(taken.audited) as audited
            from taken
            cross join lateral unnest(taken.record_ids, taken.guest_ids, taken.message_ids, taken.phones)
                as entry (record_id, guest_id, message_id, phone)
            where taken.kind = 'unlinked_deliveries'
        )

        select links.checks, pending.record_ids, pending.guest_ids, pending.message_ids, pending.phones, pending.audited
        into v_links, v_pending_ids, v_pending_guests, v_pending_messages, v_pending_phones, v_pending_audited
        from links cross join pending;

        if v_links is null and v_pending_ids is null then
            return null;
        end if;

        -- 1. the partition locks, in one ascending pass: exclusive where this transaction linked guests
        select coalesce(pg_catalog.array_agg(distinct part.number::integer), '{}') into v_linker_partitions
        from pg_catalog.jsonb_array_elements(coalesce(v_links, '[]')) as link_check
        cross join lateral pg_catalog.jsonb_array_elements_text(link_check -> 'partitions') as part (number);
        if v_pending_ids is null then
            v_sender_mask := 0;
        end if;
        for v_partition in 0 .. {{ linkage_partition_count() }} - 1 loop
            if v_partition = any(v_linker_partitions) then
                perform pg_catalog.pg_advisory_xact_lock({{ linkage_lock_namespace() }}, v_partition);
            elsif v_sender_mask & (1 << v_partition) <> 0 then
                perform pg_catalog.pg_advisory_xact_lock_shared({{ linkage_lock_namespace() }}, v_partition);
            end if;
        end loop;

        -- 2. guest links: sends committed since the backfill looked
        if v_links is not null then
            select pg_catalog.array_agg(guest.guest_id), pg_catalog.array_agg(guest.user_id)
            into v_recheck_guests, v_recheck_users
            from pg_catalog.jsonb_array_elements(v_links) as link_check
            cross join lateral (
                select seen.partition
                from pg_catalog.jsonb_array_elements_text(link_check -> 'send_clocks') with ordinality as clock (value, position)
                cross join lateral (select (clock.position - 1)::integer as partition, clock.value::bigint as at_link) as seen
                where clock.value is not null
                  and (
                      seen.at_link = -1
                      or seen.at_link <> coalesce(pg_catalog.pg_sequence_last_value({{ linkage_send_clock(ctx, 'seen.partition') }}), 0)
                      or (
                          seen.at_link > 0
                          and not pg_catalog.pg_visible_in_snapshot(seen.at_link::text::xid8, (link_check ->> 'link_snapshot')::pg_snapshot)
                          and pg_catalog.pg_xact_status(seen.at_link::text::xid8) is distinct from 'aborted'
                      )
                  )
            ) as changed
            cross join lateral unnest(
                array(select pg_catalog.jsonb_array_elements_text(link_check -> 'guest_ids'))::uuid[],
                array(select pg_catalog.jsonb_array_elements_text(link_check -> 'user_ids'))::uuid[],
                array(select pg_catalog.jsonb_array_elements_text(link_check -> 'partitions'))::integer[]
            ) as guest (guest_id, user_id, partition)
            where guest.partition = changed.partition;

            if v_recheck_guests is not null then
                if v_snapshot_isolation then
                    raise exception using
                        errcode = 'serialization_failure',
                        message = 'delivery_linkage: could not serialize a guest link with a concurrent send',
                        detail = 'A delivery for a guest this transaction linked was committed by another transaction that its snapshot cannot see.',
                        hint = 'Retry the transaction.';
                end if;
                perform {{ p }}.backfill_guest_deliveries(v_recheck_guests, v_recheck_users, 'guest_linked');
            end if;
            -- this transaction's id in the link clocks of its partitions (held exclusive: the last id
            -- written is the last linker to commit there)
            foreach v_partition in array v_linker_partitions loop
                perform pg_catalog.setval({{ linkage_send_clock(ctx, 'v_partition', 'link') }}, v_transaction_id::text::bigint, true);
            end loop;
        end if;

        -- 3. sends: look again at the guests the deliveries were waiting for
        if v_pending_ids is not null then
            if v_snapshot_isolation then
                -- 40001 if one of these guests was changed after this transaction's snapshot by a
                -- transaction that committed (FOR SHARE conflicts with any update, not only key updates);
                -- a guest an unfinished transaction is changing is skipped, never waited on: if that one
                -- links it, its own commit check sees this send in the partition's send clock
                begin
                    perform 1 from {{ s }}.event_guests as guest
                    where guest.id = any(v_pending_guests)
                    order by guest.id
                    for share skip locked;
                exception when serialization_failure then
                    -- a guest changed after this snapshot: only a link matters, and a link committed after
                    -- this snapshot shows in its partition's link clock (an edit of the guest's name does not)
                    if exists (
                        select 1
                        from pg_catalog.generate_series(0, {{ linkage_partition_count() }} - 1) as part (number)
                        cross join lateral (
                            select pg_catalog.pg_sequence_last_value({{ linkage_send_clock(ctx, 'part.number', 'link') }}) as last_link
                        ) as clock
                        where v_sender_mask & (1 << part.number) <> 0
                          and clock.last_link > 0
                          and not pg_catalog.pg_visible_in_snapshot(clock.last_link::text::xid8, pg_catalog.pg_current_snapshot())
                          and pg_catalog.pg_xact_status(clock.last_link::text::xid8) is distinct from 'aborted'
                    ) then
                        raise;
                    end if;
                end;
            end if;

            select pg_catalog.array_agg(guest.id), pg_catalog.array_agg(guest.user_id)
            into v_recheck_guests, v_recheck_users
            from {{ s }}.event_guests as guest
            where guest.id = any(v_pending_guests)
              and {{ linkage_guest_is_linkable('guest') }}
              -- not to a user a transaction is deleting right now (a foreign-key error at the app's commit)
              and exists (select 1 from {{ s }}.users as app_user where app_user.id = guest.user_id for key share skip locked);
            if v_recheck_guests is not null and {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} then
                -- linked meanwhile: the deliveries get the guest's user now, as any guest-link backfill
                perform {{ p }}.backfill_guest_deliveries(v_recheck_guests, v_recheck_users, 'guest_linked');
            end if;

            -- the attempts not audited yet, decided by the rules (one definition) as they stand now; a
            -- delivery whose guest became linkable since was not linkable when it was inserted
            select pg_catalog.array_agg(waiting.record_id), pg_catalog.array_agg(waiting.guest_id),
                   pg_catalog.array_agg(waiting.message_id), pg_catalog.array_agg(waiting.phone)
            into v_attempt_ids, v_attempt_guests, v_attempt_messages, v_attempt_phones
            from unnest(v_pending_ids, v_pending_guests, v_pending_messages, v_pending_phones, v_pending_audited)
                as waiting (record_id, guest_id, message_id, phone, audited)
            where not waiting.audited;
            if v_attempt_ids is not null then
                {{ linkage_write_attempts(ctx,
                    "select 'message_deliveries'::text, attempt.outcome, attempt.reason, attempt.event_id, attempt.message_id, "
                    ~ "attempt.fallback, attempt.candidate_count, pg_catalog.array_agg(attempt.record_id), null::uuid[], "
                    ~ "case when attempt.reason in ('guest_not_linked', 'guest_removed') then null "
                    ~ "     else pg_catalog.array_agg(attempt.matched_guest_id) end, "
                    ~ "null::text[], null::integer[], null::uuid[] "
                    ~ "from ("
                    ~ "    select decision.record_id, waiting.message_id, decision.event_id, decision.matched_guest_id, "
                    ~ "           decision.phone_fallback_enabled as fallback, "
                    ~ "           case when decision.outcome = 'linked' then 'no_match' else decision.outcome end as outcome, "
                    ~ "           case when decision.outcome = 'linked' then 'guest_not_linked' else decision.reason end as reason, "
                    ~ "           case when decision.outcome = 'linked' then 1 else decision.candidate_count end as candidate_count "
                    ~ "    from " ~ p ~ ".decide_delivery_links(v_attempt_ids, v_attempt_guests, v_attempt_messages, "
                    ~ "         pg_catalog.array_fill(null::uuid, array[pg_catalog.cardinality(v_attempt_ids)]), v_attempt_phones) as decision "
                    ~ "    join unnest(v_attempt_ids, v_attempt_messages) as waiting (record_id, message_id) "
                    ~ "        on waiting.record_id = decision.record_id "
                    ~ ") as attempt "
                    ~ "group by attempt.outcome, attempt.reason, attempt.event_id, attempt.message_id, attempt.fallback, attempt.candidate_count") }}
            end if;

            -- partitions where deliveries still wait for their guest (not linkable now, so nothing linked
            -- them above): this transaction's id in the send clock
            select pg_catalog.array_agg(distinct {{ linkage_partition('guest.event_id') }})
            into v_waiting_partitions
            from {{ s }}.event_guests as guest
            where guest.id = any(v_pending_guests)
              and not coalesce(guest.id = any(v_recheck_guests), false);
            if v_waiting_partitions is not null then
                foreach v_partition in array v_waiting_partitions loop
                    perform pg_catalog.setval({{ linkage_send_clock(ctx, 'v_partition') }}, v_transaction_id::text::bigint, true);
                end loop;
            end if;
        end if;
        return null;
    end
    $function$;
    comment on function {{ p }}.run_commit_checks() is
        'delivery_linkage: at commit, closes the race between sends and guest links (see the deploy docs); never waits while the app could wait on it.';
{% endmacro %}
