{#
    linkage_user_is_free_to_link(s, user_id): a SQL boolean expression: the app's user named by the
    expression user_id exists and no other transaction is deleting it or changing its key. It takes
    the same FOR KEY SHARE lock the foreign-key check on message_deliveries.user_id would take, but
    SKIP LOCKED: where that check would wait (and fail if the deletion commits), the linkage does not
    link the row at all (it is left NULL, and its guest is queued for the sweeper where that applies).
    Written once: every place the linkage copies a user into a delivery asks it.
#}
{% macro linkage_user_is_free_to_link(s, user_id) -%}
    exists (select from {{ s }}.users as app_user where app_user.id = {{ user_id }} for key share skip locked)
{%- endmacro %}
