{#
    Entry point of the deploy, called once from on-run-start (and by `dbt run-operation deploy`).

    Renders every database object of the linkage (macros/deploy/, one file per object) into one DO
    block, so the deploy is a single statement: all or nothing, under a lock_timeout, whatever
    transaction mode the caller uses. The block first compares the version hash of what it would
    deploy with the one recorded in linkage_deployments; when they match, the main triggers exist and
    both flag rows are there, it returns having read only that table, the flags and the catalogs: no
    lock at all. Otherwise it takes every relation it changes (linkage_lock_app_tables), which also
    serializes deploys: a second deploy gets them once the first has committed, finds the version
    current and returns. No advisory lock: its key would be one any role could hold.

    Before rendering, it checks that the app's tables exist and stops with one line naming the
    schema and database it looked in (dbt then skips the models: flags.skip_nodes_if_on_run_start_fails).
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
    {{ return(linkage_deploy_sql(linkage_context())) }}
{% endmacro %}


{% macro linkage_schema() %}
    {%- set schema = var('linkage_app_schema', 'public') -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', schema) -%}
        {{ exceptions.raise_compiler_error("linkage_app_schema must be a plain lower-case identifier, got '" ~ schema ~ "'") }}
    {%- endif -%}
    {{ return(schema) }}
{% endmacro %}


{% macro linkage_private_schema() %}
    {%- set schema = var('linkage_private_schema', 'delivery_linkage') -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', schema) or schema == linkage_schema() -%}
        {{ exceptions.raise_compiler_error("linkage_private_schema must be a plain lower-case identifier other than the app schema, got '" ~ schema ~ "'") }}
    {%- endif -%}
    {{ return(schema) }}
{% endmacro %}


{#
    linkage_context(): what every object macro needs, resolved once against the database:
    s (app schema), p (private schema), flags (the feature_flags relation the linkage reads: an app
    table named feature_flags in the app schema is adopted, otherwise the linkage's own table in the
    private schema, shown in the app schema as a view). Stops with one line when an app table is missing.
#}
{% macro linkage_context() %}
    {%- set s = linkage_schema() -%}
    {%- set p = linkage_private_schema() -%}
    {%- set found = run_query(
        "select t.name, pg_catalog.to_regclass(pg_catalog.format('%I.%I', '" ~ s ~ "', t.name)) is not null as present,"
        ~ " (select c.relkind::text from pg_catalog.pg_class as c where c.oid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', '" ~ s ~ "', t.name))) as kind,"
        ~ " pg_catalog.current_database() as database_name"
        ~ " from (values ('users'), ('events'), ('event_guests'), ('messages'), ('message_deliveries'), ('feature_flags')) as t (name)"
    ) -%}
    {%- set kinds = {} -%}
    {%- for row in found.rows -%}
        {%- if not row['present'] and row['name'] != 'feature_flags' -%}
            {{ exceptions.raise_compiler_error("delivery_linkage: app table " ~ s ~ "." ~ row['name'] ~ " not found in database " ~ row['database_name'] ~ " (set var linkage_app_schema, or point the profile at the app's database)") }}
        {%- endif -%}
        {%- do kinds.update({row['name']: row['kind']}) -%}
    {%- endfor -%}
    {%- set flags_adopted = kinds['feature_flags'] in ['r', 'p'] -%}
    {%- set compatibility = run_query(
        "select distinct p.proname from pg_catalog.pg_proc as p where p.pronamespace = '" ~ s ~ "'::regnamespace"
        ~ " and p.proname in ('backfill_user_links', 'rollback_user_links', 'purge_user_link_audit', 'run_user_link_audit_purge')"
    ).columns[0].values() | list -%}
    {{ return({
        's': s,
        'p': p,
        'flags': (s if flags_adopted else p) ~ '.feature_flags',
        'flags_adopted': flags_adopted,
        'compatibility': compatibility,
    }) }}
{% endmacro %}


{% macro linkage_deploy_statements(ctx) %}
    {{ return([
        linkage_drop_superseded(ctx),
        linkage_deployments(ctx),
        feature_flags(ctx),
        get_feature_flag(ctx),
        normalize_phone(ctx),
        link_attempts(ctx),
        audit_write_failures(ctx),
        guest_link_queue(ctx),
        own_write_transactions(ctx),
        app_linked_deliveries(ctx),
        link_audit_purge_runs(ctx),
        linkage_adopt_audit_table(ctx),
        user_link_audit(ctx),
        linkage_mirror_audit_readers(ctx),
        audit_vocabulary(ctx),
        audit_storage_problems(ctx),
        decide_delivery_links(ctx),
        link_user_by_phone(ctx),
        backfill_guest_deliveries(ctx),
        auto_link_user_by_phone_trigger(ctx),
        audit_inserted_delivery_links(ctx),
        relink_updated_delivery(ctx),
        relink_deliveries_of_deleted_user(ctx),
        trigger_backfill_guest_deliveries(ctx),
        sweep_guest_link_queue(ctx),
        backfill_deliveries_batch(ctx),
        rollback_links_since(ctx),
        purge_link_audit(ctx),
        set_linkage_triggers_enabled(ctx),
        linkage_compatibility_functions(ctx),
        trigger_message_deliveries_auto_link_user(ctx),
        trigger_message_deliveries_audit_links(ctx),
        trigger_message_deliveries_auto_link_user_on_update(ctx),
        trigger_backfill_deliveries_on_guest_link(ctx),
        trigger_backfill_deliveries_on_guest_insert(ctx),
        trigger_relink_deliveries_on_user_delete(ctx),
        linkage_indexes(ctx),
        linkage_privileges(ctx),
        linkage_sweeper_schedule(ctx),
    ]) }}
{% endmacro %}


{% macro linkage_deploy_sql(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {%- set lock_timeout = var('linkage_lock_timeout', '5s') | string -%}
    {%- if not modules.re.match('^[0-9]+(ms|s|min)?$', lock_timeout) -%}
        {{ exceptions.raise_compiler_error("var linkage_lock_timeout must look like 5s, 500ms or 1min, got '" ~ lock_timeout ~ "'") }}
    {%- endif -%}
    {%- set statements = linkage_deploy_statements(ctx) -%}
    {%- set body = statements | join('\n') -%}
    {%- set version_hash = local_md5(body ~ lock_timeout) -%}
do $linkage_deploy$
declare
    v_deployed_hash text;
    v_trigger_enabled "char";
    v_lock_deadline timestamptz;
    v_table_rows bigint;
    v_flag_rows bigint;
    v_app_owner name;
    v_linkage_relations text;
    v_version_was_current boolean := false;
begin
    perform pg_catalog.set_config('lock_timeout', '{{ lock_timeout }}', true);
    -- the linkage's objects belong to the owner of the app's tables, whoever deploys: a superuser's
    -- deploy acts as that role (its SECURITY DEFINER functions must not run as a superuser, and
    -- functions replaced in place keep their owner, who must be able to read what is created here)
    select pg_catalog.pg_get_userbyid(c.relowner) into v_app_owner
    from pg_catalog.pg_class as c where c.oid = '{{ s }}.message_deliveries'::regclass;
    if v_app_owner <> current_user and pg_catalog.pg_has_role(current_user, v_app_owner, 'USAGE') then
        execute pg_catalog.format('set local role %I', v_app_owner);
        raise notice 'delivery_linkage: deploying as %, the owner of the app''s tables', v_app_owner;
    end if;
    if pg_catalog.to_regclass('{{ p }}.linkage_deployments') is not null then
        select d.version_hash into v_deployed_hash
        from {{ p }}.linkage_deployments as d
        order by d.deployed_at desc, d.id desc
        limit 1;
    end if;
    v_version_was_current := v_deployed_hash is not distinct from '{{ version_hash }}';
    if v_deployed_hash = '{{ version_hash }}'
        and (
            select pg_catalog.count(*) from pg_catalog.pg_trigger as t
            where t.tgrelid in ('{{ s }}.message_deliveries'::regclass, '{{ s }}.event_guests'::regclass)
              and t.tgname in ('trigger_message_deliveries_auto_link_user', 'trigger_backfill_deliveries_on_guest_link')
        ) = 2
        and pg_catalog.to_regclass('{{ ctx.flags }}') is not null
    then
        -- a deleted flag row is restored by a full deploy
        execute $flags$
            select pg_catalog.count(distinct flag.flag_name) from {{ ctx.flags }} as flag
            where flag.flag_name in ({% for flag in linkage_feature_flags() %}'{{ flag.flag_name }}'{{ ', ' if not loop.last }}{% endfor %})
        $flags$ into v_flag_rows;
        if v_flag_rows = {{ linkage_feature_flags() | length }} then
            raise notice 'delivery_linkage: deployed version {{ version_hash }} is current, nothing to do';
            return;
        end if;
    end if;

    -- A changed deploy alters relations the app's writes use: the app's tables (triggers, indexes) and
    -- the linkage's own tables and views, which every send writes or reads. Taking them one at a time
    -- with ordinary waits deadlocks a send in flight, or queues the app behind a deploy that waits for
    -- an app table. So all of them are taken first, together, NOWAIT (retried until lock_timeout), before
    -- any DDL: the deploy never waits while it holds one, and from here on it waits for nothing.
    select pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', ' order by n.nspname, c.relname)
    into v_linkage_relations
    from pg_catalog.pg_class as c
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v')
      and (n.nspname = '{{ p }}' or (n.nspname = '{{ s }}' and c.relname in ('user_link_audit', 'feature_flags')));
    {{ linkage_lock_app_tables(s, also_sql='v_linkage_relations') }}
    -- one deploy at a time, with no lock of its own (a lock key any role could hold would let it stall
    -- every deploy): a second deploy waited above for the first one's tables; if the first deployed
    -- this very version meanwhile, there is nothing left to do
    if pg_catalog.to_regclass('{{ p }}.linkage_deployments') is not null then
        select d.version_hash into v_deployed_hash
        from {{ p }}.linkage_deployments as d
        order by d.deployed_at desc, d.id desc
        limit 1;
        if v_deployed_hash = '{{ version_hash }}' and not v_version_was_current then
            raise notice 'delivery_linkage: deployed version {{ version_hash }} is current (deployed meanwhile), nothing to do';
            return;
        end if;
    end if;

    create schema if not exists {{ p }};
    comment on schema {{ p }} is
        'delivery_linkage: the linkage''s own tables and machinery (not exposed by the data API); the runbook''s functions and views are in {{ s }}.';

{{ body }}

    insert into {{ p }}.linkage_deployments (version_hash, deployed_by)
    values ('{{ version_hash }}', current_user);
    raise notice 'delivery_linkage: deployed version {{ version_hash }}';
end
$linkage_deploy$;
{% endmacro %}
