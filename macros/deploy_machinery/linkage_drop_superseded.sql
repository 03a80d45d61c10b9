{#
    Upgrade in place, first step: what an older deployment (this project's earlier versions, or the
    app's original linkage) left that the current definitions cannot replace in place.
    - Functions under the runbook's names whose signature, parameter names or return type differ
      from the current ones (CREATE OR REPLACE cannot change those): dropped, with the triggers that
      call them (recreated below). The original's link_user_by_phone(uuid, text) returning an enum
      outcome is one; the original's get_feature_flag(flag_name) and normalize_phone(phone_input)
      already have the current names and are replaced in place.
    - This project's earlier machinery in the app schema (its comment starts with "delivery_linkage"):
      functions now in the private schema, the guest_link_fences and app_linked_spill tables, and
      the app-schema linkage_deployments (its rows move to the private one).
    - The previous write path's parts (0.1): its triggers on the app's tables that the current one no
      longer has (any trigger whose comment marks it as the linkage's and whose name is not in
      linkage_trigger_names), the commit checks, the scratch tables, the send clocks and the functions
      whose signature changed.
    Dropping a trigger needs the app tables: they are taken first, together and NOWAIT (linkage_lock_app_tables).
#}
{% macro linkage_drop_superseded(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {%- set wanted = {
        'link_user_by_phone': [['p_event_id uuid, p_normalized_phone text', 'TABLE(user_id uuid, guest_id uuid, outcome text, reason text, candidate_count integer)']],
        'backfill_guest_deliveries': [['p_guest_id uuid, p_user_id uuid', 'integer']],
        'get_feature_flag': [['flag_name text', 'boolean']],
        'normalize_phone': [['phone_input text', 'text']],
        'auto_link_user_by_phone_trigger': [['', 'trigger']],
        'trigger_backfill_guest_deliveries': [['', 'trigger']],
        'backfill_user_links': [['p_table_name text, p_batch_size integer, p_dry_run boolean', 'TABLE(processed_count integer, linked_count integer, no_match_count integer, ambiguous_count integer, skipped_count integer, sample_results jsonb)']],
        'rollback_user_links': [['p_since_timestamp timestamp with time zone, p_table_name text, p_dry_run boolean', 'TABLE(rolled_back_count integer, sample_records jsonb)']],
        'purge_user_link_audit': [['retain_days integer', 'integer']],
        'run_user_link_audit_purge': [['retain_days integer', 'void']],
    } -%}
    {%- set moved_to_private = ['decide_delivery_links', 'audit_inserted_delivery_links', 'backfill_deliveries_batch',
                                'rollback_links_since', 'set_linkage_triggers_enabled', 'backfill_guest_deliveries'] -%}
    {%- set retired_private_functions = ['run_commit_checks()', 'note_app_linked_delivery()',
                                         'backfill_guest_deliveries(uuid[], uuid[], text)'] -%}
    declare
        v_signature text;
        v_dropping text[] := '{}';
    begin
        for v_signature in
            select p.oid::regprocedure::text
            from pg_catalog.pg_proc as p
            where p.pronamespace = '{{ s }}'::regnamespace
              and (
                  (p.proname in ({% for name in wanted %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
                   and not (
                    {%- for name, forms in wanted.items() %}
                    {%- for form in forms %}
                    (p.proname = '{{ name }}'
                     and pg_catalog.pg_get_function_identity_arguments(p.oid) = '{{ form[0] }}'
                     and pg_catalog.pg_get_function_result(p.oid) = '{{ form[1] }}'){{ ' or' if not loop.last }}
                    {%- endfor %}{{ ' or' if not loop.last }}
                    {%- endfor %}
                  ))
                  or (p.proname in ({% for name in moved_to_private %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
                      and pg_catalog.pg_get_function_identity_arguments(p.oid) <> 'p_guest_id uuid, p_user_id uuid'
                      and coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') like 'delivery_linkage:%')
              )
        loop
            v_dropping := v_dropping || v_signature;
        end loop;
        if pg_catalog.cardinality(v_dropping) > 0
            or pg_catalog.to_regclass('{{ s }}.guest_link_fences') is not null
            or pg_catalog.to_regclass('{{ s }}.app_linked_spill') is not null
        then
            {{ linkage_lock_app_tables(s) }}
            foreach v_signature in array v_dropping loop
                raise notice 'delivery_linkage: replacing superseded function %', v_signature;
                execute pg_catalog.format('drop function %s cascade', v_signature);
            end loop;
        end if;
        -- the previous write path's triggers, tables, sequences and functions
        if exists (
            select from pg_catalog.pg_trigger as t
            where t.tgrelid in ('{{ s }}.message_deliveries'::regclass, '{{ s }}.event_guests'::regclass, '{{ s }}.users'::regclass)
              and pg_catalog.obj_description(t.oid, 'pg_trigger') like 'delivery_linkage %'
              and t.tgname not in ({% for name in linkage_trigger_names() %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
        ) or pg_catalog.to_regclass('{{ p }}.commit_checks') is not null then
            {{ linkage_lock_app_tables(s) }}
            for v_signature in
                select pg_catalog.format('drop trigger %I on %s', t.tgname, t.tgrelid::regclass)
                from pg_catalog.pg_trigger as t
                where t.tgrelid in ('{{ s }}.message_deliveries'::regclass, '{{ s }}.event_guests'::regclass, '{{ s }}.users'::regclass)
                  and pg_catalog.obj_description(t.oid, 'pg_trigger') like 'delivery_linkage %'
                  and t.tgname not in ({% for name in linkage_trigger_names() %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
            loop
                raise notice 'delivery_linkage: removing the previous write path''s trigger: %', v_signature;
                execute v_signature;
            end loop;
        end if;
        {%- for function in retired_private_functions %}
        if pg_catalog.to_regprocedure('{{ p }}.{{ function }}') is not null then
            drop function {{ p }}.{{ function }} cascade;
        end if;
        {%- endfor %}
        drop table if exists {{ p }}.commit_checks, {{ p }}.insert_notes;
        for v_signature in
            select pg_catalog.format('%I.%I', n.nspname, c.relname)
            from pg_catalog.pg_class as c
            join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = '{{ p }}' and c.relkind = 'S' and c.relname ~ '^(send|link)_clock_[0-9]+$'
        loop
            execute 'drop sequence ' || v_signature;
        end loop;
        if coalesce(pg_catalog.obj_description(pg_catalog.to_regclass('{{ s }}.guest_link_fences'), 'pg_class'), '') like 'delivery_linkage:%' then
            drop table {{ s }}.guest_link_fences;
        end if;
        if coalesce(pg_catalog.obj_description(pg_catalog.to_regclass('{{ s }}.app_linked_spill'), 'pg_class'), '') like 'delivery_linkage:%' then
            drop table {{ s }}.app_linked_spill;
        end if;
    end;
{% endmacro %}
