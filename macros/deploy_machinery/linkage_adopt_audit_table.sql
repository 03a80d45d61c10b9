{#
    Adopting an existing audit table. Where the app schema already has a table named user_link_audit
    (the app's original linkage, or an earlier version of this project), it becomes the legacy part of
    the audit: moved, untouched, to the private schema as user_link_audit_legacy — every row, its
    columns and types, its constraints, its RLS policies and its grants go with it — and the view
    user_link_audit (user_link_audit.sql) shows its rows beside the new ones (audit_source 'legacy').
    Nothing is ever written to it again, so its NOT NULL columns and enum outcome need no change.
    Roles that could read it keep reading the audit: they get SELECT on the view and on the new
    storage (link_attempts), USAGE on the private schema, and the table's SELECT policies are copied
    onto link_attempts where their expressions make sense there (a policy on event_id does; one that
    cannot be created is reported and skipped, so its role sees only legacy rows). Printed as it goes.
    The table is moved under the app tables' locks (the original trigger writes to it while inserting
    deliveries), taken together and NOWAIT.
#}
{% macro linkage_adopt_audit_table(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    if (select c.relkind from pg_catalog.pg_class as c where c.oid = pg_catalog.to_regclass('{{ s }}.user_link_audit')) in ('r', 'p') then
        if pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy') is not null then
            raise exception using
                message = 'delivery_linkage: both {{ s }}.user_link_audit (a table) and {{ p }}.user_link_audit_legacy exist',
                detail = 'The linkage adopts a pre-existing audit table once, as {{ p }}.user_link_audit_legacy.',
                hint = 'Merge or rename one of them, then run dbt again.';
        end if;
        {{ linkage_lock_app_tables(s, also=[s ~ '.user_link_audit']) }}
        alter table {{ s }}.user_link_audit set schema {{ p }};
        alter table {{ p }}.user_link_audit rename to user_link_audit_legacy;
        comment on table {{ p }}.user_link_audit_legacy is
            'delivery_linkage: the audit rows written before this project adopted the audit (audit_source legacy in {{ s }}.user_link_audit); read-only.';
        raise notice 'delivery_linkage: adopted audit table {{ s }}.user_link_audit as {{ p }}.user_link_audit_legacy (% rows kept)',
            (select pg_catalog.count(*) from {{ p }}.user_link_audit_legacy);
    end if;
{% endmacro %}


{#
    linkage_mirror_audit_readers(ctx): after the view exists, gives the readers of an adopted audit
    table the same reach over the new storage (see above). Runs on every deploy that changes
    something; idempotent (grants and policies are only added when missing).
#}
{% macro linkage_mirror_audit_readers(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    declare
        v_reader record;
        v_policy record;
    begin
        for v_reader in
            select distinct grantee.rolname
            from pg_catalog.pg_class as c
            cross join lateral pg_catalog.aclexplode(c.relacl) as acl
            join pg_catalog.pg_roles as grantee on grantee.oid = acl.grantee
            where c.oid = pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy')
              and acl.privilege_type = 'SELECT'
              and grantee.rolname <> current_user
        loop
            if not pg_catalog.has_table_privilege(v_reader.rolname, '{{ s }}.user_link_audit', 'SELECT')
                or not pg_catalog.has_table_privilege(v_reader.rolname, '{{ p }}.link_attempts', 'SELECT')
                or not pg_catalog.has_schema_privilege(v_reader.rolname, '{{ p }}', 'USAGE')
            then
                execute pg_catalog.format('grant usage on schema {{ p }} to %I', v_reader.rolname);
                execute pg_catalog.format('grant select on {{ s }}.user_link_audit to %I', v_reader.rolname);
                execute pg_catalog.format('grant select on {{ p }}.link_attempts to %I', v_reader.rolname);
                raise notice 'delivery_linkage: privileges: % read the adopted audit table; granted SELECT on {{ s }}.user_link_audit and {{ p }}.link_attempts, USAGE on schema {{ p }}',
                    v_reader.rolname;
            end if;
        end loop;
        for v_policy in
            select pol.polname, pol.polpermissive, pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as using_expression,
                   coalesce((select pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
                             from pg_catalog.pg_roles as r where r.oid = any(pol.polroles)), 'public') as roles
            from pg_catalog.pg_policy as pol
            where pol.polrelid = pg_catalog.to_regclass('{{ p }}.user_link_audit_legacy')
              and pol.polcmd in ('r', '*')
              and pol.polqual is not null
              and not exists (
                  select 1 from pg_catalog.pg_policy as mirrored
                  where mirrored.polrelid = '{{ p }}.link_attempts'::regclass and mirrored.polname = pol.polname
              )
        loop
            begin
                execute pg_catalog.format(
                    'create policy %I on {{ p }}.link_attempts as %s for select to %s using (%s)',
                    v_policy.polname, case when v_policy.polpermissive then 'permissive' else 'restrictive' end,
                    v_policy.roles, v_policy.using_expression
                );
                raise notice 'delivery_linkage: copied policy % of the adopted audit table onto {{ p }}.link_attempts', v_policy.polname;
            exception when others then
                raise notice 'delivery_linkage: policy % of the adopted audit table does not apply to {{ p }}.link_attempts (%); its roles see legacy rows only',
                    v_policy.polname, sqlerrm;
            end;
        end loop;
    end;
{% endmacro %}
