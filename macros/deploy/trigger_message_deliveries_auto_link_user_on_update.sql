{#
    trigger_message_deliveries_auto_link_user_on_update (helper): BEFORE UPDATE OF guest_id,
    phone_number or user_id on message_deliveries, per row, only when an update outside any trigger
    (pg_trigger_depth() = 0: not a foreign key's action, nor the linkage's own writes from a trigger)
    touches the delivery's link: it leaves the delivery with no user while clearing the user or
    changing its guest or phone, or it sets or changes the user (relink_updated_delivery). A status
    update never fires it; a user's deletion clears its deliveries without a call per row (what it
    must relink, trigger_relink_deliveries_on_user_delete did first).
#}
{% macro trigger_message_deliveries_auto_link_user_on_update(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user_on_update',
        'before update of guest_id, phone_number, user_id on ' ~ ctx.s ~ '.message_deliveries for each row
        when (pg_catalog.pg_trigger_depth() = 0
              and ((new.user_id is null
                    and (old.user_id is not null
                         or old.guest_id is distinct from new.guest_id
                         or old.phone_number is distinct from new.phone_number))
                   or (new.user_id is not null and old.user_id is distinct from new.user_id)))
        execute function ' ~ ctx.p ~ '.relink_updated_delivery()') }}
{% endmacro %}
