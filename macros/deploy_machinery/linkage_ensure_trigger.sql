{#
    linkage_ensure_trigger: creates a trigger only when it is missing or its definition changed.
    The definition's hash is kept in the trigger's comment, so a deploy that changes only function
    bodies takes no lock on the app's tables. A trigger an operator disabled stays disabled.
#}
{% macro linkage_ensure_trigger(s, table_name, trigger_name, definition) %}
    {%- set definition_hash = local_md5(definition) -%}
    if not exists (
        select 1 from pg_catalog.pg_trigger as t
        where t.tgrelid = '{{ s }}.{{ table_name }}'::regclass
          and t.tgname = '{{ trigger_name }}'
          and pg_catalog.obj_description(t.oid, 'pg_trigger') = 'delivery_linkage {{ definition_hash }}'
    ) then
        v_trigger_enabled := (
            select t.tgenabled from pg_catalog.pg_trigger as t
            where t.tgrelid = '{{ s }}.{{ table_name }}'::regclass and t.tgname = '{{ trigger_name }}'
        );
        {{ linkage_lock_app_tables(s) }}
        drop trigger if exists {{ trigger_name }} on {{ s }}.{{ table_name }};
        create trigger {{ trigger_name }} {{ definition }};
        comment on trigger {{ trigger_name }} on {{ s }}.{{ table_name }} is 'delivery_linkage {{ definition_hash }}';
        if v_trigger_enabled = 'D' then
            alter table {{ s }}.{{ table_name }} disable trigger {{ trigger_name }};
        end if;
    end if;
{% endmacro %}


{#
    The linkage's triggers on the app's tables (the runbook's two first, then the helpers); the
    rollback plan's switch (set_linkage_triggers_enabled) and the operations' logs use this list.
#}
{% macro linkage_trigger_names() %}
    {{ return([
        'trigger_message_deliveries_auto_link_user',
        'trigger_backfill_deliveries_on_guest_link',
        'trigger_message_deliveries_audit_links',
        'trigger_message_deliveries_auto_link_user_on_update',
        'trigger_backfill_deliveries_on_guest_insert',
        'trigger_relink_deliveries_on_user_delete',
    ]) }}
{% endmacro %}
