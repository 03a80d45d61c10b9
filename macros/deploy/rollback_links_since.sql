{#
    rollback_links_since: undoes the links the linkage made since a time, from the audit trail.
    A delivery whose user_id is no longer the one the linkage gave it (the app or an operator changed
    it since) is left alone. Each undone link is audited (message_deliveries_rollback, outcome
    unlinked, previous_user_id). The auto-link trigger is told not to relink these rows at once.
#}
{% macro rollback_links_since(s) %}
    create or replace function {{ s }}.rollback_links_since(p_since timestamptz, p_dry_run boolean)
    returns table (links_found integer, unlinked integer, left_alone integer)
    language plpgsql
    volatile
    security definer
    set search_path = ''
    as $function$
    declare
        v_found integer;
        v_unlinked integer;
    begin
        create temporary table if not exists linkage_rollback_candidates (
            record_id uuid primary key, linked_user_id uuid, event_id uuid, matched_guest_id uuid
        ) on commit drop;
        truncate linkage_rollback_candidates;
        insert into linkage_rollback_candidates
        select distinct on (audit.record_id) audit.record_id, audit.linked_user_id, audit.event_id, audit.matched_guest_id
        from {{ s }}.user_link_audit as audit
        where audit.created_at >= p_since
          and audit.outcome = 'linked'
          and audit.table_name in ('message_deliveries', 'message_deliveries_backfill')
          and audit.record_id is not null
        order by audit.record_id, audit.created_at desc, audit.id desc;
        get diagnostics v_found = row_count;

        if p_dry_run then
            return query
            select v_found,
                   pg_catalog.count(*)::integer,
                   v_found - pg_catalog.count(*)::integer
            from linkage_rollback_candidates as candidate
            join {{ s }}.message_deliveries as delivery
                on delivery.id = candidate.record_id and delivery.user_id = candidate.linked_user_id;
            return;
        end if;

        perform pg_catalog.set_config('delivery_linkage.suppress', 'on', true);
        with undone as (
            update {{ s }}.message_deliveries as delivery
            set user_id = null
            from linkage_rollback_candidates as candidate
            where delivery.id = candidate.record_id
              and delivery.user_id = candidate.linked_user_id
            returning delivery.id, delivery.phone_number, candidate.linked_user_id, candidate.event_id,
                      candidate.matched_guest_id
        )
        insert into {{ s }}.user_link_audit (
            table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
            outcome, reason, candidate_count, previous_user_id
        )
        select 'message_deliveries_rollback', undone.id, undone.event_id, {{ s }}.normalize_phone(undone.phone_number),
               undone.matched_guest_id, null, 'unlinked', 'rollback', 0, undone.linked_user_id
        from undone;
        get diagnostics v_unlinked = row_count;
        perform pg_catalog.set_config('delivery_linkage.suppress', 'off', true);
        return query select v_found, v_unlinked, v_found - v_unlinked;
    end
    $function$;
    comment on function {{ s }}.rollback_links_since(timestamptz, boolean) is
        'delivery_linkage: unlinks deliveries linked since a time (from the audit), leaving changed ones alone.';
{% endmacro %}
