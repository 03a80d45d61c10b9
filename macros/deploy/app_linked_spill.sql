{#
    app_linked_spill: where the insert trigger keeps the ids of rows whose user_id came from the app
    once a single statement has more of them than fit in the delivery_linkage.app_linked_ids setting
    (about 1000). The statement's audit trigger reads and deletes them; rows live only inside the
    inserting transaction (unlogged: nothing to recover after a crash).
#}
{% macro app_linked_spill(s) %}
    create unlogged table if not exists {{ s }}.app_linked_spill (
        xact_id xid8 not null,
        delivery_id uuid not null,
        primary key (xact_id, delivery_id)
    );
    comment on table {{ s }}.app_linked_spill is
        'delivery_linkage: ids of app-linked rows of a large INSERT, read and deleted by its audit trigger.';
{% endmacro %}
