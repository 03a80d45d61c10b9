{#
    trigger_relink_deliveries_on_user_delete (helper): BEFORE DELETE on users, per row
    (relink_deliveries_of_deleted_user): before the app's foreign key clears a deleted user's
    deliveries, those whose guest was linked to another user since get that user.
#}
{% macro trigger_relink_deliveries_on_user_delete(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'users', 'trigger_relink_deliveries_on_user_delete',
        'before delete on ' ~ ctx.s ~ '.users for each row
        execute function ' ~ ctx.p ~ '.relink_deliveries_of_deleted_user()') }}
{% endmacro %}
