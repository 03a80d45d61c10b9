{#
    guest_link_queue: guests whose NULL deliveries must be looked at again once every transaction that
    overlapped the event is over — the one place the write path keeps state between its steps (a
    table in the private schema: the API roles can neither read nor write it).
    Written by:
    - a guest that became linkable (queue_guest_link, per guest row): its transaction backfills it at
      once (trigger_backfill_guest_deliveries, which clears backfill_in_transaction as it takes them), and
      the sweeper looks again after commit for deliveries that transaction could not see;
    - an insert or update that left a delivery NULL whose guest is linkable (its user row was locked,
      or the guest was linked while the statement ran), or, under REPEATABLE READ / SERIALIZABLE, whose
      guest was not linkable in the transaction's snapshot (audit_inserted_delivery_links,
      relink_updated_delivery).
    Emptied by sweep_guest_link_queue: it stamps each new entry with the transactions then writing
    message_deliveries (waiting_for) and, once they have all ended, backfills the entry's guest.
#}
{% macro guest_link_queue(ctx) %}
    create table if not exists {{ ctx.p }}.guest_link_queue (
        id bigint generated always as identity primary key,
        guest_id uuid not null,
        enqueued_at timestamptz not null default pg_catalog.now(),
        enqueued_by xid8 not null default pg_catalog.pg_current_xact_id(),
        backfill_in_transaction boolean not null default false,
        waiting_for text[],
        stamped_at timestamptz
    );
    create index if not exists guest_link_queue_guest_id_idx on {{ ctx.p }}.guest_link_queue (guest_id);
    create index if not exists guest_link_queue_to_backfill_idx on {{ ctx.p }}.guest_link_queue (enqueued_by)
        where backfill_in_transaction;
    alter table {{ ctx.p }}.guest_link_queue enable row level security;
    comment on table {{ ctx.p }}.guest_link_queue is
        'delivery_linkage: guests whose NULL deliveries the sweeper (sweep_guest_link_queue) looks at again after the transactions that overlapped them end.';
{% endmacro %}
