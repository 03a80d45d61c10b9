{#
    trigger_message_deliveries_auto_link_user_on_update (helper): BEFORE UPDATE of guest_id,
    phone_number or user_id on message_deliveries, per row, only when the update touches the link:
    a delivery with no user whose guest or phone changed, a user_id cleared, set or changed — and not
    the linkage's own updates (delivery_linkage.writing). A status update never calls the function
    (relink_updated_delivery).
#}
{% macro trigger_message_deliveries_auto_link_user_on_update(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user_on_update',
        'before update of guest_id, phone_number, user_id on ' ~ ctx.s ~ '.message_deliveries for each row
        when (pg_catalog.current_setting(\'delivery_linkage.writing\', true) is distinct from \'on\'
              and ((new.user_id is null and (old.guest_id is distinct from new.guest_id
                    or old.phone_number is distinct from new.phone_number or old.user_id is not null))
                   or (new.user_id is not null and old.user_id is distinct from new.user_id)))
        execute function ' ~ ctx.p ~ '.relink_updated_delivery()') }}
{% endmacro %}
