{#
    trigger_message_deliveries_auto_link_user (the runbook's): BEFORE INSERT on message_deliveries,
    per row, only for rows that arrive with no user_id — a row the app linked never calls the
    function (auto_link_user_by_phone_trigger).
#}
{% macro trigger_message_deliveries_auto_link_user(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user',
        'before insert on ' ~ ctx.s ~ '.message_deliveries for each row
        when (new.user_id is null)
        execute function ' ~ ctx.s ~ '.auto_link_user_by_phone_trigger()') }}
{% endmacro %}
