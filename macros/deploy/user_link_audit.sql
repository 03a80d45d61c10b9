{#
    user_link_audit: the runbook's audit, one row per attempt, as operators query it
    (`select … from user_link_audit where created_at >= now() - interval '24 hours' …`). A view in
    the app schema over link_attempts (one row per group of attempts; see link_attempts.sql) and,
    where the deploy adopted an existing audit table, its rows too (user_link_audit_legacy):
    id (text: '<group>.<n>' for the linkage's rows, the old id for legacy ones), table_name, record_id,
    event_id, normalized_phone, matched_guest_id, linked_user_id, outcome, reason, candidate_count,
    phone_fallback_enabled, previous_user_id, created_at, audit_source ('linkage' | 'legacy').
    For links by guest record and guest-link backfills, matched_guest_id and normalized_phone are the
    delivery's own guest and phone, read from message_deliveries (a change of either is itself an
    attempt with its own row). security_invoker: a reader needs the rights (and passes the RLS
    policies) of the relations underneath, so the view never shows more than its reader may see.
    user_link_audit_of(delivery id): the attempts of one delivery, through the message index.
#}
{% macro linkage_audit_attempt_rows(ctx, filter='true') -%}
    select
        attempt.id::text || '.' || entry.ordinality::text as id,
        attempt.table_name,
        entry.record_id,
        attempt.event_id,
        case
            when attempt.normalized_phones is null then {{ ctx.s }}.normalize_phone(delivery.phone_number::text)
            else entry.normalized_phone
        end as normalized_phone,
        case when attempt.matched_guest_ids is null then delivery.guest_id else entry.matched_guest_id end as matched_guest_id,
        entry.linked_user_id,
        attempt.outcome,
        attempt.reason,
        coalesce(entry.candidate_count, attempt.candidate_count) as candidate_count,
        attempt.phone_fallback_enabled,
        entry.previous_user_id,
        attempt.created_at,
        'linkage'::text as audit_source
    from {{ ctx.p }}.link_attempts as attempt
    cross join lateral unnest(
        attempt.record_ids, attempt.linked_user_ids, attempt.matched_guest_ids, attempt.normalized_phones,
        attempt.candidate_counts, attempt.previous_user_ids
    ) with ordinality as entry (
        record_id, linked_user_id, matched_guest_id, normalized_phone, candidate_count, previous_user_id, ordinality
    )
    left join {{ ctx.s }}.message_deliveries as delivery
        on delivery.id = entry.record_id
    where {{ filter }}
{%- endmacro %}


{% macro user_link_audit(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    declare
        v_legacy text := '';
        v_column record;
        v_select text := '';
    begin
        if pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy') is not null then
            for v_column in
                select wanted.name, wanted.type, a.attname is not null as present
                from (values
                    (1, 'id', 'text'), (2, 'table_name', 'text'), (3, 'record_id', 'uuid'), (4, 'event_id', 'uuid'),
                    (5, 'normalized_phone', 'text'), (6, 'matched_guest_id', 'uuid'), (7, 'linked_user_id', 'uuid'),
                    (8, 'outcome', 'text'), (9, 'reason', 'text'), (10, 'candidate_count', 'integer'),
                    (11, 'phone_fallback_enabled', 'boolean'), (12, 'previous_user_id', 'uuid'), (13, 'created_at', 'timestamptz')
                ) as wanted (position, name, type)
                left join pg_catalog.pg_attribute as a
                    on a.attrelid = '{{ p }}.user_link_audit_legacy'::regclass and a.attname = wanted.name and not a.attisdropped
                order by wanted.position
            loop
                v_select := v_select || case when v_select = '' then '' else ', ' end
                    || case when v_column.present
                            then pg_catalog.format('legacy.%I::text::%s as %I', v_column.name, v_column.type, v_column.name)
                            else pg_catalog.format('null::%s as %I', v_column.type, v_column.name) end;
            end loop;
            v_legacy := ' union all select ' || v_select || ', ''legacy''::text as audit_source from {{ p }}.user_link_audit_legacy as legacy';
        end if;
        v_select := 'create or replace view {{ s }}.user_link_audit with (security_invoker = true) as '
            || {{ linkage_dollar_quote(linkage_audit_attempt_rows(ctx)) }}
            || v_legacy;
        begin
            execute v_select;
        exception when feature_not_supported or invalid_table_definition or wrong_object_type or datatype_mismatch then
            -- columns changed since the last version: the view (and what depends on it) is rebuilt
            execute 'drop view if exists {{ s }}.user_link_audit cascade';
            execute v_select;
        end;
    end;
    comment on view {{ s }}.user_link_audit is
        'delivery_linkage: every linking attempt (message_deliveries), guest-link and historical backfill link (message_deliveries_backfill), rollback (message_deliveries_rollback) and change of a link by the app (message_deliveries_app_update), one row each; audit_source legacy for rows of an adopted audit table.';

    create or replace function {{ s }}.user_link_audit_of(p_record_id uuid)
    returns setof {{ s }}.user_link_audit
    language sql
    stable
    set search_path = ''
    as $function$
        {{ linkage_audit_attempt_rows(ctx,
            "attempt.message_id = (select d.message_id from " ~ s ~ ".message_deliveries as d where d.id = p_record_id)"
            ~ " and p_record_id = any(attempt.record_ids) and entry.record_id = p_record_id") }}
        union all
        {{ linkage_audit_attempt_rows(ctx,
            "attempt.message_id is null and p_record_id = any(attempt.record_ids) and entry.record_id = p_record_id"
            ~ " and exists (select 1 from " ~ s ~ ".message_deliveries as d where d.id = p_record_id and d.message_id is null)") }}
        union all
        {{ linkage_audit_attempt_rows(ctx,
            "not exists (select 1 from " ~ s ~ ".message_deliveries as d where d.id = p_record_id)"
            ~ " and p_record_id = any(attempt.record_ids) and entry.record_id = p_record_id") }}
        union all
        select audit.* from {{ s }}.user_link_audit as audit
        where audit.audit_source = 'legacy' and audit.record_id = p_record_id
    $function$;
    comment on function {{ s }}.user_link_audit_of(uuid) is
        'delivery_linkage: the audit rows of one delivery (found through its message); rows of a deleted delivery are found by a scan.';
{% endmacro %}


{# A SQL string literal of any text (dollar-quoted with a tag that cannot occur in it). #}
{% macro linkage_dollar_quote(text) -%}
    $linkage_view${{ text }}$linkage_view$
{%- endmacro %}
