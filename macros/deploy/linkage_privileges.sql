{#
    Privileges: the functions that change or reveal links, and the audit, are for their owner only.
    Hosted platforms' default privileges grant EXECUTE on every new function (and everything on new
    tables) to their API roles by name, so revoking from PUBLIC is not enough: each role in var
    linkage_api_roles that exists is revoked explicitly. normalize_phone and get_feature_flag stay
    callable: they reveal no link. Nothing is ever granted, so rights an operator revoked stay revoked.
#}
{% macro linkage_privileges(s) %}
    {%- set private_functions = [
        'decide_delivery_links(uuid[], uuid[], uuid[], uuid[], text[])',
        'link_user_by_phone(uuid, text)',
        'backfill_guest_deliveries(uuid, uuid)',
        'backfill_guest_deliveries(uuid[], uuid[], text)',
        'auto_link_user_by_phone_trigger()',
        'audit_inserted_delivery_links()',
        'trigger_backfill_guest_deliveries()',
        'backfill_deliveries_batch(uuid, integer, boolean)',
        'rollback_links_since(timestamptz, boolean)',
        'set_linkage_triggers_enabled(boolean)',
    ] -%}
    {%- set roles = var('linkage_api_roles', ['anon', 'authenticated', 'service_role']) -%}
    declare
        v_grantee text;
    begin
        for v_grantee in
            select 'public'
            union all
            select pg_catalog.quote_ident(r.rolname) from pg_catalog.pg_roles as r
            where r.rolname in ({% for role in roles %}'{{ role }}'{{ ', ' if not loop.last }}{% endfor %})
              and r.rolname <> current_user
        loop
            {%- for function in private_functions %}
            execute 'revoke all on function {{ s }}.{{ function }} from ' || v_grantee;
            {%- endfor %}
            execute 'revoke all on table {{ s }}.user_link_audit from ' || v_grantee;
            execute 'revoke all on table {{ s }}.linkage_deployments from ' || v_grantee;
            execute 'revoke all on table {{ s }}.guest_link_fences from ' || v_grantee;
            execute 'revoke all on table {{ s }}.app_linked_spill from ' || v_grantee;
            execute 'revoke insert, update, delete, truncate on table {{ s }}.feature_flags from ' || v_grantee;
            if pg_catalog.pg_get_serial_sequence('{{ s }}.user_link_audit', 'id') is not null then
                execute 'revoke all on sequence ' || pg_catalog.pg_get_serial_sequence('{{ s }}.user_link_audit', 'id')
                    || ' from ' || v_grantee;
            end if;
        end loop;
    end;
{% endmacro %}
