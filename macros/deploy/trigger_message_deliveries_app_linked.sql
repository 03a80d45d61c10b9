{#
    trigger_message_deliveries_app_linked (helper): BEFORE INSERT on message_deliveries, per row, only
    for rows that arrive with a user_id from the app (note_app_linked_delivery). Its name sorts before
    trigger_message_deliveries_auto_link_user, so it fires first and sees the app's own value.
#}
{% macro trigger_message_deliveries_app_linked(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_app_linked',
        'before insert on ' ~ ctx.s ~ '.message_deliveries for each row
        when (new.user_id is not null)
        execute function ' ~ ctx.p ~ '.note_app_linked_delivery()') }}
{% endmacro %}
