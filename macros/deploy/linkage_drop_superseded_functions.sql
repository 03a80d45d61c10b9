{#
    Upgrade in place: an older deployment may hold functions under the runbook's names with another
    signature or return type, which CREATE OR REPLACE cannot change. Those are dropped here (with the
    triggers that call them, which this deploy recreates) before the current definitions are created.
#}
{% macro linkage_drop_superseded_functions(s) %}
    {%- set wanted = {
        'link_user_by_phone': [['p_event_id uuid, p_phone text', 'TABLE(user_id uuid, guest_id uuid, outcome text, reason text, candidate_count integer)']],
        'backfill_guest_deliveries': [['p_guest_id uuid, p_user_id uuid', 'integer'], ['p_guest_ids uuid[], p_user_ids uuid[], p_reason text', 'integer']],
        'get_feature_flag': [['p_flag_name text', 'boolean']],
        'normalize_phone': [['phone text', 'text']],
        'auto_link_user_by_phone_trigger': [['', 'trigger']],
        'trigger_backfill_guest_deliveries': [['', 'trigger']],
    } -%}
    declare
        v_function record;
    begin
        for v_function in
            select p.oid::regprocedure as signature, p.proname,
                   pg_catalog.pg_get_function_identity_arguments(p.oid) as arguments,
                   pg_catalog.pg_get_function_result(p.oid) as result
            from pg_catalog.pg_proc as p
            join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
            where n.nspname = '{{ s }}'
              and p.proname in ({% for name in wanted %}'{{ name }}'{{ ', ' if not loop.last }}{% endfor %})
        loop
            if not (
                {%- for name, forms in wanted.items() %}
                {%- for form in forms %}
                (v_function.proname = '{{ name }}' and v_function.arguments = '{{ form[0] }}' and v_function.result = '{{ form[1] }}'){{ ' or' if not loop.last }}
                {%- endfor %}{{ ' or' if not loop.last }}
                {%- endfor %}
            ) then
                raise notice 'delivery_linkage: replacing superseded function %', v_function.signature;
                execute pg_catalog.format('drop function %s cascade', v_function.signature);
            end if;
        end loop;
    end;
{% endmacro %}
