{#
    commit_checks: work a transaction leaves for its own commit (run_commit_checks, fired by the
    deferred constraint trigger trigger_commit_checks_at_commit):
    - kind 'unlinked_deliveries': deliveries left with no user for a guest that exists but was not
      linkable (record and guest ids; audited: whether their attempt is already in the audit);
    - kind 'linked_guests': guests this transaction made linkable (guest and user ids), with the lock
      partitions of their events, the send clocks as they were and the snapshot the backfill used.
    Unlogged and short-lived: rows live only inside their transaction.
#}
{% macro commit_checks(ctx) %}
    create unlogged table if not exists {{ ctx.p }}.commit_checks (
        id bigint generated always as identity primary key,
        transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
        kind text not null,
        record_ids uuid[],
        guest_ids uuid[],
        user_ids uuid[],
        audited boolean not null default false,
        partitions integer[],
        send_clocks bigint[],
        link_snapshot pg_snapshot
    );
    create index if not exists commit_checks_transaction_id_idx on {{ ctx.p }}.commit_checks (transaction_id);
    comment on table {{ ctx.p }}.commit_checks is
        'delivery_linkage: per-transaction work for commit time (race guard between sends and guest links).';
{% endmacro %}
