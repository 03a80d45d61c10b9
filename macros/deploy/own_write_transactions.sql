{#
    own_write_transactions: the transactions in which the linkage itself writes message_deliveries
    outside a trigger (the sweeper, the manual and the historical backfill, rollback_links), each
    marked for the length of its write: relink_updated_delivery leaves their writes alone (a rollback
    relinked at once would undo itself; a backfill audits its own links). A row lives only inside its
    transaction (inserted, then deleted before commit) and the API roles can neither read nor write
    the table: nothing a session sets decides what the trigger does.
#}
{% macro own_write_transactions(ctx) %}
    create table if not exists {{ ctx.p }}.own_write_transactions (
        transaction_id xid8 primary key
    );
    alter table {{ ctx.p }}.own_write_transactions enable row level security;
    comment on table {{ ctx.p }}.own_write_transactions is
        'delivery_linkage: transactions in which the linkage writes message_deliveries itself (rows live only inside them).';
{% endmacro %}


{# PL/pgSQL statements marking (and unmarking) the current transaction as the linkage's own writer. #}
{% macro linkage_mark_own_writes(ctx) -%}
    insert into {{ ctx.p }}.own_write_transactions (transaction_id) values (pg_catalog.pg_current_xact_id())
    on conflict do nothing;
{%- endmacro %}

{% macro linkage_unmark_own_writes(ctx) -%}
    delete from {{ ctx.p }}.own_write_transactions where transaction_id = pg_catalog.pg_current_xact_id();
{%- endmacro %}
