{#
    trigger_message_deliveries_audit_links (helper): AFTER INSERT on message_deliveries, per statement,
    with the statement's rows as a transition table: the audit of a whole INSERT in one write, and the
    queue entries of rows left for the sweeper (audit_inserted_delivery_links).
#}
{% macro trigger_message_deliveries_audit_links(ctx) %}
    {{ linkage_ensure_trigger(ctx.s, 'message_deliveries', 'trigger_message_deliveries_audit_links',
        'after insert on ' ~ ctx.s ~ '.message_deliveries referencing new table as inserted_deliveries
        for each statement execute function ' ~ ctx.p ~ '.audit_inserted_delivery_links()') }}
{% endmacro %}
