{#
    trigger_message_deliveries_auto_link_user (the runbook's): BEFORE INSERT on message_deliveries,
    per row (auto_link_user_by_phone_trigger): links a row that arrives with no user_id, notes one that
    arrives with the app's own. One trigger for both, so nothing depends on the order triggers fire in.
#}
{% macro trigger_message_deliveries_auto_link_user(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user',
        'before insert on ' ~ ctx.s ~ '.message_deliveries for each row
        execute function ' ~ ctx.s ~ '.auto_link_user_by_phone_trigger()') }}
{% endmacro %}
