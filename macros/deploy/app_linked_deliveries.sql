{#
    app_linked_deliveries: the deliveries an INSERT received with a user_id of the app's own, noted by
    the row trigger (auto_link_user_by_phone_trigger) for the statement's audit
    (audit_inserted_delivery_links), which takes the notes and deletes them in the same statement: the
    table is empty between statements. A user_id the app writes is never an attempt; every other user
    in the statement's transition table is the linkage's link — whatever happened to the guest
    meanwhile. Written only for rows the app linked (a send to guests writes nothing here); no
    constraint that could refuse a note; the API roles can neither read nor write it.
#}
{% macro app_linked_deliveries(ctx) %}
    create table if not exists {{ ctx.p }}.app_linked_deliveries (
        transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
        delivery_id uuid not null
    );
    create index if not exists app_linked_deliveries_transaction_idx
        on {{ ctx.p }}.app_linked_deliveries (transaction_id, delivery_id);
    alter table {{ ctx.p }}.app_linked_deliveries enable row level security;
    comment on table {{ ctx.p }}.app_linked_deliveries is
        'delivery_linkage: deliveries an INSERT received with the app''s own user_id, noted for the statement''s audit (empty between statements).';
{% endmacro %}
