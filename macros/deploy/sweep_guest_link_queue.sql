{#
    sweep_guest_link_queue() → integer: one pass of the sweeper, at READ COMMITTED, each call its own
    transaction (pg_cron every second where the database has it, else `linkage sweep`). Returns how
    many entries are still queued after the pass.

    It does the runbook's guest-link backfill, after the link commits (so the app's transaction holds
    no delivery row for the linkage), and closes the race: a delivery inserted while its guest is being
    linked, by a transaction that cannot see the link (its statement, or its snapshot, began before the
    link committed). Once every transaction that could have written such a delivery has ended, a
    backfill with a fresh snapshot sees both. Which ones
    could have: those writing message_deliveries when the sweeper first sees the committed entry
    (they hold a lock on it from their first write; a later write at READ COMMITTED takes a snapshot
    that sees the link; under REPEATABLE READ / SERIALIZABLE a delivery left NULL queues its own
    guest). The rule CREATE INDEX CONCURRENTLY uses, read from pg_locks (no privilege needed).
    1. Stamp: new entries whose guest is not linkable now go at once (nothing to link; a later link
       of that guest queues its own entry: most entries are of this kind, queued by sends under
       REPEATABLE READ / SERIALIZABLE); the others get the virtual transaction ids of the transactions
       holding a write lock on message_deliveries now (read after the entries are seen, so no
       overlapping one is missed).
    2. Sweep: entries none of whose stamped transactions is still running go at once when their guest
       is not linkable now (nothing to link; a later link queues its own entry), before any delivery is
       locked; the others are backfilled
       (backfill_guest_deliveries, reason guest_linked for a guest's link — the runbook's backfill —
       or sweeper for what a send could not link; rows and users others hold are skipped) and deleted —
       or, when a linkable delivery of their guest is still NULL because it was held, stamped again for
       the next pass. While LINK_USER_BY_PHONE is off nothing is linked: the queued guests' deliveries
       are audited as skipped, and the entries go (the flag is read at the start of the pass and again
       after the backfill: an entry goes unlinked only when both reads say off).
    At most 10,000 entries a pass; two sweepers at once share the work (SKIP LOCKED).
#}
{% macro sweep_guest_link_queue(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {%- set queued_guest_is_linkable -%}
        exists (
            select from {{ s }}.event_guests as guest
            where guest.id = queued.guest_id and {{ linkage_guest_is_linkable('guest') }}
        )
    {%- endset -%}
    create or replace function {{ p }}.sweep_guest_link_queue()
    returns integer
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_new bigint[];
        v_dropped bigint[];
        v_writers text[];
        v_running text[];
        v_ready bigint[];
        v_linked_guests uuid[];
        v_other_guests uuid[];
        v_left integer;
        v_linking boolean;
    begin
        if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
            raise exception using
                errcode = 'invalid_transaction_state',
                message = 'delivery_linkage: sweep_guest_link_queue must run at READ COMMITTED',
                hint = 'Call it in a transaction of its own at the default isolation level.';
        end if;

        -- 1. the entries seen for the first time: those whose guest is not linkable now go at once (nothing
        -- to link; a later link of that guest queues its own entry), the others are stamped
        select pg_catalog.array_agg(seen.id) filter (where seen.linkable),
               pg_catalog.array_agg(seen.id) filter (where not seen.linkable)
        into v_new, v_dropped
        from (
            select queued.id,
                   {{ queued_guest_is_linkable }} as linkable
            from {{ p }}.guest_link_queue as queued
            where queued.waiting_for is null
            for update of queued skip locked
        ) as seen;
        if v_dropped is not null then
            delete from {{ p }}.guest_link_queue as queued where queued.id = any(v_dropped);
        end if;
        if v_new is not null then
            select coalesce(pg_catalog.array_agg(distinct held.virtualtransaction), '{}') into v_writers
            from pg_catalog.pg_locks as held
            where held.locktype = 'relation'
              and held.database = (select d.oid from pg_catalog.pg_database as d where d.datname = pg_catalog.current_database())
              and held.relation = '{{ s }}.message_deliveries'::regclass
              and held.granted
              and held.mode in ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
              and held.pid is distinct from pg_catalog.pg_backend_pid();
            update {{ p }}.guest_link_queue as queued
            set waiting_for = v_writers, stamped_at = pg_catalog.clock_timestamp()
            where queued.id = any(v_new);
        end if;

        -- 2. sweep the entries whose stamped transactions have all ended (the flag read once here too: a
        -- flip while the pass runs must not drop an entry whose deliveries were neither linked nor audited)
        v_linking := {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }};
        select coalesce(pg_catalog.array_agg(distinct running.virtualtransaction), '{}') into v_running
        from pg_catalog.pg_locks as running
        where running.pid is distinct from pg_catalog.pg_backend_pid();
        select pg_catalog.array_agg(ready.id) filter (where ready.linkable),
               pg_catalog.array_agg(distinct ready.guest_id) filter (where ready.linkable and ready.reason = 'guest_linked'),
               pg_catalog.array_agg(distinct ready.guest_id) filter (where ready.linkable and ready.reason <> 'guest_linked'),
               pg_catalog.array_agg(ready.id) filter (where not ready.linkable)
        into v_ready, v_linked_guests, v_other_guests, v_dropped
        from (
            select queued.id, queued.guest_id, queued.reason,
                   {{ queued_guest_is_linkable }} as linkable
            from {{ p }}.guest_link_queue as queued
            where queued.waiting_for is not null
              and not (queued.waiting_for && v_running)
            order by queued.id
            limit 10000
            for update of queued skip locked
        ) as ready;
        -- the entries of guests no longer linkable go before anything is locked: nothing to link
        if v_dropped is not null then
            delete from {{ p }}.guest_link_queue as queued where queued.id = any(v_dropped);
        end if;
        if v_ready is not null then
            {{ linkage_mark_own_writes(ctx) }}
            -- the runbook's backfill of guests that became linkable (audited skipped while linking is off)
            if v_linked_guests is not null then
                perform {{ p }}.backfill_guest_deliveries(v_linked_guests, 'guest_linked');
            end if;
            -- what sends could not link in their own statement
            if v_other_guests is not null then
                perform {{ p }}.backfill_guest_deliveries(v_other_guests, 'sweeper');
            end if;
            {{ linkage_unmark_own_writes(ctx) }}
            -- a linkable delivery still NULL (its row or its user was held): looked at again next pass,
            -- unless linking was off at both reads (the backfill then audited it skipped)
            if v_linking or {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} then
                update {{ p }}.guest_link_queue as queued
                set waiting_for = null, stamped_at = null
                where queued.id = any(v_ready)
                  and exists (
                      select from {{ s }}.event_guests as guest
                      join {{ s }}.message_deliveries as delivery on delivery.guest_id = guest.id and delivery.user_id is null
                      left join {{ s }}.messages as message on message.id = delivery.message_id
                      where guest.id = queued.guest_id
                        and {{ linkage_guest_is_linkable('guest') }}
                        and {{ linkage_guest_of_event('guest', 'message.event_id') }}
                  );
            end if;
            delete from {{ p }}.guest_link_queue as queued
            where queued.id = any(v_ready) and queued.waiting_for is not null;
        end if;

        select pg_catalog.count(*)::integer into v_left from {{ p }}.guest_link_queue;
        return v_left;
    end
    $function$;
    comment on function {{ p }}.sweep_guest_link_queue() is
        'delivery_linkage: one pass of the sweeper (READ COMMITTED, own transaction): links the NULL deliveries of queued guests once the transactions that overlapped them have ended; returns the entries left.';
{% endmacro %}
