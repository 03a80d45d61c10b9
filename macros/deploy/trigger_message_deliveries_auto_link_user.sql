{#
    Triggers on message_deliveries:
    - trigger_message_deliveries_auto_link_user (the runbook's): BEFORE INSERT, per row.
    - trigger_message_deliveries_auto_link_user_on_update (helper): BEFORE UPDATE, per row, only when
      guest_id, phone_number or user_id changed and user_id ends up NULL; a status update never calls it.
    - trigger_message_deliveries_audit_links (helper): AFTER INSERT, per statement, writes the audit.
#}
{% macro trigger_message_deliveries_auto_link_user(s) %}
    {{ linkage_ensure_trigger(s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user',
        'before insert on ' ~ s ~ '.message_deliveries for each row execute function ' ~ s ~ '.auto_link_user_by_phone_trigger()') }}
    {{ linkage_ensure_trigger(s, 'message_deliveries', 'trigger_message_deliveries_auto_link_user_on_update',
        'before update of guest_id, phone_number, user_id on ' ~ s ~ '.message_deliveries for each row
        when ((new.user_id is null and (old.guest_id is distinct from new.guest_id
              or old.phone_number is distinct from new.phone_number or old.user_id is not null))
              or (old.user_id is not null and new.user_id is not null and old.user_id <> new.user_id))
        execute function ' ~ s ~ '.auto_link_user_by_phone_trigger()') }}
    {{ linkage_ensure_trigger(s, 'message_deliveries', 'trigger_message_deliveries_audit_links',
        'after insert on ' ~ s ~ '.message_deliveries referencing new table as inserted_deliveries
        for each statement execute function ' ~ s ~ '.audit_inserted_delivery_links()') }}
{% endmacro %}
