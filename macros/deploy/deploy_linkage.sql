{#
    Entry point of the deploy, called once from on-run-start.

    Renders every database object of the linkage into one DO block, so the deploy is a single
    statement: all or nothing, under a lock_timeout, whatever transaction mode the caller uses.
    The block first compares the version hash of what it would deploy with the one recorded in
    linkage_deployments; when they match and the main triggers exist it returns at once, having
    read only that table and the catalogs: no lock on any app table.
#}
{% macro deploy_linkage() %}
    {%- if not execute or not var('linkage_deploy', true) | as_bool -%}
        {{ return('') }}
    {%- endif -%}
    {%- if flags.WHICH not in ['run', 'test', 'build', 'seed', 'snapshot', 'run-operation'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set in_recovery = run_query('select pg_catalog.pg_is_in_recovery()').columns[0].values()[0] -%}
    {%- if in_recovery -%}
        {{ log('delivery_linkage: hot standby (pg_is_in_recovery), deploy skipped', info=True) }}
        {{ return('') }}
    {%- endif -%}
    {{ return(linkage_deploy_sql()) }}
{% endmacro %}


{% macro linkage_schema() %}
    {%- set schema = var('linkage_app_schema', 'public') -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', schema) -%}
        {{ exceptions.raise_compiler_error("linkage_app_schema must be a plain lower-case identifier, got '" ~ schema ~ "'") }}
    {%- endif -%}
    {{ return(schema) }}
{% endmacro %}


{% macro linkage_deploy_statements() %}
    {%- set s = linkage_schema() -%}
    {{ return([
        linkage_deployments(s),
        linkage_drop_superseded_functions(s),
        feature_flags(s),
        get_feature_flag(s),
        normalize_phone(s),
        user_link_audit(s),
        guest_link_fences(s),
        app_linked_spill(s),
        decide_delivery_links(s),
        link_user_by_phone(s),
        backfill_guest_deliveries(s),
        auto_link_user_by_phone_trigger(s),
        audit_inserted_delivery_links(s),
        trigger_backfill_guest_deliveries(s),
        backfill_deliveries_batch(s),
        rollback_links_since(s),
        set_linkage_triggers_enabled(s),
        trigger_message_deliveries_auto_link_user(s),
        trigger_backfill_deliveries_on_guest_link(s),
        linkage_indexes(s),
        linkage_privileges(s),
    ]) }}
{% endmacro %}


{% macro linkage_deploy_sql() %}
    {%- set s = linkage_schema() -%}
    {%- set statements = linkage_deploy_statements() -%}
    {%- set body = statements | join('\n') -%}
    {%- set version_hash = local_md5(body ~ var('linkage_lock_timeout', '5s')) -%}
do $linkage_deploy$
declare
    v_deployed_hash text;
    v_table_rows bigint;
    v_trigger_enabled "char";
    v_lock_deadline timestamptz;
begin
    if pg_catalog.to_regclass('{{ s }}.linkage_deployments') is not null then
        select d.version_hash into v_deployed_hash
        from {{ s }}.linkage_deployments as d
        order by d.deployed_at desc, d.id desc
        limit 1;
    end if;
    if v_deployed_hash = '{{ version_hash }}'
        and (
            select pg_catalog.count(*) from pg_catalog.pg_trigger as t
            join pg_catalog.pg_class as c on c.oid = t.tgrelid
            join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = '{{ s }}'
              and t.tgname in ('trigger_message_deliveries_auto_link_user', 'trigger_backfill_deliveries_on_guest_link')
        ) = 2
    then
        raise notice 'delivery_linkage: deployed version {{ version_hash }} is current, nothing to do';
        return;
    end if;

    perform pg_catalog.set_config('lock_timeout', '{{ var("linkage_lock_timeout", "5s") }}', true);

{{ body }}

    insert into {{ s }}.linkage_deployments (version_hash, deployed_by)
    values ('{{ version_hash }}', current_user);
    raise notice 'delivery_linkage: deployed version {{ version_hash }}';
end
$linkage_deploy$;
{% endmacro %}
