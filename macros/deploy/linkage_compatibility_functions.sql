{#
    The original system's operations, kept under their names, signatures and parameter names where the
    app had them (found at deploy time: ctx.compatibility), as thin equivalents over the linkage's own:
    | original                                                   | now                                           |
    |------------------------------------------------------------|-----------------------------------------------|
    | backfill_user_links(p_table_name, p_batch_size, p_dry_run)  | one batch of backfill_deliveries_batch        |
    | rollback_user_links(p_since_timestamp, p_table_name, p_dry_run) | rollback_links_since                      |
    | purge_user_link_audit(retain_days default 180)             | purge_link_audit (logged too)                 |
    | run_user_link_audit_purge(retain_days default 180)         | purge_link_audit (logged)                     |
    Their results keep the original columns; `ambiguous` counts the rules' ambiguous_* reasons.
#}
{% macro linkage_compatibility_functions(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {%- if 'backfill_user_links' in ctx.compatibility %}
    create or replace function {{ s }}.backfill_user_links(
        p_table_name text default 'message_deliveries', p_batch_size integer default 100, p_dry_run boolean default true
    )
    returns table (processed_count integer, linked_count integer, no_match_count integer, ambiguous_count integer,
                   skipped_count integer, sample_results jsonb)
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_batch record;
    begin
        if p_table_name is distinct from 'message_deliveries' then
            raise exception 'Unsupported table: %', p_table_name;
        end if;
        select * into v_batch from {{ p }}.backfill_deliveries_batch(null, p_batch_size, p_dry_run);
        return query select v_batch.scanned, v_batch.linked, v_batch.scanned - v_batch.linked, 0, 0, v_batch.by_reason;
    end
    $function$;
    comment on function {{ s }}.backfill_user_links(text, integer, boolean) is
        'delivery_linkage: the original system''s backfill, now one batch of the historical backfill (backfill_deliveries_batch).';
    {%- endif %}
    {%- if 'rollback_user_links' in ctx.compatibility %}
    create or replace function {{ s }}.rollback_user_links(
        p_since_timestamp timestamptz, p_table_name text default 'message_deliveries', p_dry_run boolean default true
    )
    returns table (rolled_back_count integer, sample_records jsonb)
    {{ linkage_definer_attributes('plpgsql', 'volatile') }}
    as $function$
    declare
        v_result record;
    begin
        if p_table_name is distinct from 'message_deliveries' then
            raise exception 'Unsupported table: %', p_table_name;
        end if;
        select * into v_result from {{ p }}.rollback_links_since(p_since_timestamp, p_dry_run);
        return query select v_result.unlinked, pg_catalog.jsonb_build_object(
            'links_found', v_result.links_found, 'left_alone', v_result.left_alone);
    end
    $function$;
    comment on function {{ s }}.rollback_user_links(timestamptz, text, boolean) is
        'delivery_linkage: the original system''s rollback, now rollback_links_since.';
    {%- endif %}
    {%- if 'purge_user_link_audit' in ctx.compatibility %}
    create or replace function {{ s }}.purge_user_link_audit(retain_days integer default 180)
    returns integer
    {{ linkage_definer_attributes('sql', 'volatile') }}
    as $function$
        select {{ p }}.purge_link_audit(retain_days)::integer
    $function$;
    comment on function {{ s }}.purge_user_link_audit(integer) is
        'delivery_linkage: the original system''s audit purge, now purge_link_audit (which also logs the run).';
    {%- endif %}
    {%- if 'run_user_link_audit_purge' in ctx.compatibility %}
    create or replace function {{ s }}.run_user_link_audit_purge(retain_days integer default 180)
    returns void
    {{ linkage_definer_attributes('sql', 'volatile') }}
    as $function$
        select {{ p }}.purge_link_audit(retain_days)
    $function$;
    comment on function {{ s }}.run_user_link_audit_purge(integer) is
        'delivery_linkage: the original system''s logged audit purge, now purge_link_audit.';
    {%- endif %}
{% endmacro %}
