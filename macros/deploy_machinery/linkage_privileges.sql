{#
    Privileges. The functions that change or reveal links, the audit and the linkage's own tables are
    for their owner only. Hosted platforms' default privileges grant EXECUTE on every new function (and
    everything on new tables and views) to their API roles by name, so revoking from PUBLIC is not
    enough: each role in var linkage_api_roles that exists is revoked explicitly. normalize_phone and
    get_feature_flag stay callable: they reveal no link. Nothing is ever granted here (an adopted audit
    table's readers are carried over by linkage_adopt_audit_table, and keep SELECT on link_attempts), so
    rights an operator revoked stay revoked, and rights the app granted on its own objects are left alone.
    Every change is printed (a NOTICE per object and grantee whose ACL the revoke actually changed).
#}
{% macro linkage_privileges(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {%- set private_functions = [
        s ~ '.link_user_by_phone(uuid, text)',
        s ~ '.backfill_guest_deliveries(uuid, uuid)',
        s ~ '.auto_link_user_by_phone_trigger()',
        s ~ '.trigger_backfill_guest_deliveries()',
        p ~ '.decide_delivery_links(uuid[], uuid[], uuid[], uuid[], text[])',
        p ~ '.backfill_guest_deliveries(uuid[], text)',
        p ~ '.relink_updated_delivery()',
        p ~ '.relink_deliveries_of_deleted_user()',
        p ~ '.audit_inserted_delivery_links()',
        p ~ '.sweep_guest_link_queue()',
        p ~ '.audit_vocabulary()',
        p ~ '.audit_storage_problems()',
        p ~ '.backfill_deliveries_batch(uuid, integer, boolean)',
        p ~ '.backfill_candidates(uuid[], boolean, boolean)',
        p ~ '.rollback_links_since(timestamptz, boolean)',
        p ~ '.purge_link_audit(integer)',
        p ~ '.set_linkage_triggers_enabled(boolean)',
    ] -%}
    {%- set compatibility_functions = [
        s ~ '.backfill_user_links(text, integer, boolean)',
        s ~ '.rollback_user_links(timestamptz, text, boolean)',
        s ~ '.purge_user_link_audit(integer)',
        s ~ '.run_user_link_audit_purge(integer)',
    ] -%}
    {%- set private_tables = [
        p ~ '.linkage_deployments', p ~ '.link_attempts', p ~ '.audit_write_failures', p ~ '.guest_link_queue', p ~ '.own_write_transactions', p ~ '.app_linked_deliveries',
        p ~ '.link_audit_purge_runs', p ~ '.linkage_indexes',
    ] -%}
    {%- set roles = var('linkage_api_roles', ['anon', 'authenticated', 'service_role']) -%}
    {#- PUBLIC and each API role that exists (never the deploying role itself), quoted for execute -#}
    {%- set grantees -%}
        select 'public'
        union all
        select pg_catalog.quote_ident(r.rolname) from pg_catalog.pg_roles as r
        where r.rolname in ({% for role in roles %}'{{ role }}'{{ ', ' if not loop.last }}{% endfor %})
          and r.rolname <> current_user
    {%- endset %}
    declare
        v_grantee text;
        v_object record;
        v_before text;
        v_after text;
        v_privileges text;
    begin
        for v_object in
            select t.kind, t.name, t.privileges
            from (values
                {%- for function in private_functions + compatibility_functions %}
                ('function', '{{ function }}', 'all'),
                {%- endfor %}
                {%- for table in private_tables %}
                ('table', '{{ table }}', 'all'),
                {%- endfor %}
                ('table', '{{ p }}.feature_flags', 'all'),
                -- the switches: the API roles may read them, nothing else (a trigger of theirs could swallow a flip)
                ('table', '{{ s }}.feature_flags', 'insert, update, delete, truncate, references, trigger'),
                ('table', '{{ s }}.user_link_audit', 'all'),
                -- the adopted audit is read-only now: its readers keep SELECT, nobody may change it
                ('table', '{{ p }}.user_link_audit_legacy', 'insert, update, delete, truncate, references, trigger')
            ) as t (kind, name, privileges)
            where case t.kind
                when 'function' then pg_catalog.to_regprocedure(t.name) is not null
                else pg_catalog.to_regclass(t.name) is not null
            end
        loop
            -- the audit view of an adopted audit table keeps the readers the app gave it (SELECT), nothing more
            if v_object.name = '{{ s }}.user_link_audit' and pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy') is not null then
                v_object.privileges := 'insert, update, delete, truncate, references, trigger';
            end if;
            -- an adopted feature_flags table is the app's: only TRIGGER is taken from the API roles (a
            -- trigger of theirs on it could swallow the kill switch)
            if v_object.name = '{{ s }}.feature_flags'
                and (select c.relkind from pg_catalog.pg_class as c where c.oid = '{{ s }}.feature_flags'::regclass) <> 'v'
            then
                v_object.privileges := 'trigger';
            end if;
            for v_grantee in {{ grantees }} loop
                v_privileges := v_object.privileges;
                if v_object.kind = 'function' then
                    select p.proacl::text into v_before from pg_catalog.pg_proc as p where p.oid = pg_catalog.to_regprocedure(v_object.name);
                    execute 'revoke all on function ' || v_object.name || ' from ' || v_grantee;
                    select p.proacl::text into v_after from pg_catalog.pg_proc as p where p.oid = pg_catalog.to_regprocedure(v_object.name);
                else
                    -- the adopted audit table's readers keep reading the new rows (linkage_mirror_audit_readers)
                    if v_object.name = '{{ p }}.link_attempts' and v_grantee <> 'public' and exists (
                        select 1 from pg_catalog.pg_class as c, pg_catalog.aclexplode(c.relacl) as acl
                        where c.oid = pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy')
                          and acl.privilege_type = 'SELECT' and acl.grantee = v_grantee::regrole
                    ) then
                        v_privileges := 'insert, update, delete, truncate, references, trigger';
                    end if;
                    select c.relacl::text into v_before from pg_catalog.pg_class as c where c.oid = pg_catalog.to_regclass(v_object.name);
                    execute 'revoke ' || v_privileges || ' on table ' || v_object.name || ' from ' || v_grantee;
                    select c.relacl::text into v_after from pg_catalog.pg_class as c where c.oid = pg_catalog.to_regclass(v_object.name);
                end if;
                if v_before is distinct from v_after then
                    raise notice 'delivery_linkage: privileges: revoked % on % % from %',
                        v_privileges, v_object.kind, v_object.name, v_grantee;
                end if;
            end loop;
        end loop;
        -- the linkage's sequences (identity columns, send clocks)
        for v_object in
            select c.oid::regclass::text as name, c.relacl::text as acl
            from pg_catalog.pg_class as c
            where c.relnamespace = '{{ p }}'::regnamespace and c.relkind = 'S'
        loop
            for v_grantee in {{ grantees }} loop
                execute 'revoke all on sequence ' || v_object.name || ' from ' || v_grantee;
            end loop;
            if v_object.acl is distinct from (select c.relacl::text from pg_catalog.pg_class as c where c.oid = v_object.name::regclass) then
                raise notice 'delivery_linkage: privileges: revoked all on sequence % from PUBLIC and the API roles', v_object.name;
            end if;
        end loop;
    end;
{% endmacro %}
