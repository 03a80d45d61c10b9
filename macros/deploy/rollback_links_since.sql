{#
    rollback_links_since: undoes the links the linkage made since a time, from the audit trail
    (user_link_audit: this project's rows and an adopted table's). A delivery whose user_id is no
    longer the one the audit says it got (the app or an operator changed it since) is left alone.
    Each undone link is audited (message_deliveries_rollback, outcome unlinked, previous_user_id).
    The rows are locked first, the undo audited, then applied in a transaction marked as the
    linkage's own writer (own_write_transactions): the update trigger leaves those rows alone
    (relinking them at once would undo the rollback); nothing a session could set decides that.
#}
{% macro rollback_links_since(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    create or replace function {{ p }}.rollback_links_since(p_since timestamptz, p_dry_run boolean)
    returns table (links_found integer, unlinked integer, left_alone integer)
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_ids uuid[];
        v_users uuid[];
        v_events uuid[];
        v_guests uuid[];
        v_undone_ids uuid[];
        v_undone_messages uuid[];
        v_undone_users uuid[];
        v_undone_events uuid[];
        v_undone_guests uuid[];
        v_found integer;
    begin
        -- each delivery's latest link since p_since
        select pg_catalog.array_agg(latest.record_id), pg_catalog.array_agg(latest.linked_user_id),
               pg_catalog.array_agg(latest.event_id), pg_catalog.array_agg(latest.matched_guest_id)
        into v_ids, v_users, v_events, v_guests
        from (
            select distinct on (audit.record_id) audit.record_id, audit.linked_user_id, audit.event_id, audit.matched_guest_id
            from {{ s }}.user_link_audit as audit
            where audit.created_at >= p_since
              and audit.outcome = 'linked'
              and audit.table_name in ('message_deliveries', 'message_deliveries_backfill')
              and audit.record_id is not null
              and audit.linked_user_id is not null
            order by audit.record_id, audit.created_at desc, audit.id desc
        ) as latest;
        v_found := coalesce(pg_catalog.cardinality(v_ids), 0);

        if p_dry_run or v_found = 0 then
            return query
            select v_found, pg_catalog.count(*)::integer, v_found - pg_catalog.count(*)::integer
            from unnest(v_ids, v_users) as candidate (record_id, linked_user_id)
            join {{ s }}.message_deliveries as delivery
                on delivery.id = candidate.record_id and delivery.user_id = candidate.linked_user_id;
            return;
        end if;

        -- the rows still carrying the user the audit gave them, locked; their undo audited first
        with undoing as (
            select delivery.id, delivery.message_id, candidate.linked_user_id, candidate.event_id, candidate.guest_id
            from unnest(v_ids, v_users, v_events, v_guests) as candidate (record_id, linked_user_id, event_id, guest_id)
            join {{ s }}.message_deliveries as delivery
                on delivery.id = candidate.record_id and delivery.user_id = candidate.linked_user_id
            order by delivery.id
            for no key update of delivery
        )

        select pg_catalog.array_agg(undoing.id), pg_catalog.array_agg(undoing.message_id), pg_catalog.array_agg(undoing.linked_user_id),
               pg_catalog.array_agg(undoing.event_id), pg_catalog.array_agg(undoing.guest_id)
        into v_undone_ids, v_undone_messages, v_undone_users, v_undone_events, v_undone_guests
        from undoing;

        if v_undone_ids is not null then
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries_rollback'::text, 'unlinked'::text, 'rollback'::text, u.event_id, u.message_id, null::boolean, 0, "
                ~ "pg_catalog.array_agg(u.id), null::uuid[], pg_catalog.array_agg(u.guest_id), null::text[], null::integer[], "
                ~ "pg_catalog.array_agg(u.previous_user_id) "
                ~ "from unnest(v_undone_ids, v_undone_messages, v_undone_users, v_undone_events, v_undone_guests) "
                ~ "as u (id, message_id, previous_user_id, event_id, guest_id) "
                ~ "group by u.event_id, u.message_id") }};
            {{ linkage_mark_own_writes(ctx) }}
            update {{ s }}.message_deliveries as delivery
            set user_id = null
            where delivery.id = any(v_undone_ids);
            {{ linkage_unmark_own_writes(ctx) }}
        end if;
        return query select v_found, coalesce(pg_catalog.cardinality(v_undone_ids), 0), v_found - coalesce(pg_catalog.cardinality(v_undone_ids), 0);
    end
    $function$;
    comment on function {{ p }}.rollback_links_since(timestamptz, boolean) is
        'delivery_linkage: unlinks deliveries linked since a time (from the audit), leaving changed ones alone.';
{% endmacro %}
