{#
    guest_link_queue: guests whose NULL deliveries the sweeper (sweep_guest_link_queue) gives their
    user once every transaction that overlapped the entry has ended — the one place the write path
    keeps state between its steps (a table in the private schema: the API roles can neither read nor
    write it). Written by:
    - a guest that became linkable (trigger_backfill_guest_deliveries): reason guest_linked; the
      sweeper does the runbook's backfill after the link commits, in its own short transaction;
    - an insert or update that left a delivery NULL whose guest is linkable (its user's row was
      locked, or the guest was linked while the statement ran), or, under REPEATABLE READ /
      SERIALIZABLE, whose guest was not linkable in the transaction's snapshot
      (audit_inserted_delivery_links, relink_updated_delivery): reason sweeper;
    - a user's deletion, for the deliveries its relink could not give the guest's new user (a row another
      transaction held, linking off) before the key's action cleared them
      (relink_deliveries_of_deleted_user): reason sweeper.
    The sweeper stamps each new entry with the transactions then writing message_deliveries
    (waiting_for) and, once they have all ended, backfills the entry's guest and deletes the entry.
#}
{% macro guest_link_queue(ctx) %}
    create table if not exists {{ ctx.p }}.guest_link_queue (
        id bigint generated always as identity primary key,
        guest_id uuid not null,
        enqueued_at timestamptz not null default pg_catalog.now(),
        reason text not null default 'sweeper',
        waiting_for text[],
        stamped_at timestamptz
    );
    create index if not exists guest_link_queue_guest_id_idx on {{ ctx.p }}.guest_link_queue (guest_id);
    alter table {{ ctx.p }}.guest_link_queue enable row level security;
    comment on table {{ ctx.p }}.guest_link_queue is
        'delivery_linkage: guests whose NULL deliveries the sweeper (sweep_guest_link_queue) looks at again after the transactions that overlapped them end.';
{% endmacro %}
