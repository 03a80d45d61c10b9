{#
    commit_checks: work a transaction leaves for its own commit (run_commit_checks, fired by the
    deferred constraint trigger trigger_commit_checks_at_commit):
    - kind 'unlinked_deliveries': deliveries left with no user for a guest that exists but was not
      linkable (record and guest ids; audited: whether their attempt is already in the audit);
    - kind 'linked_guests': guests this transaction made linkable (guest and user ids), with the lock
      partitions of their events, the send clocks as they were and the snapshot the backfill used.
    Unlogged and short-lived: rows live only inside their transaction and are found again only by
    their ctid (transaction-local setting delivery_linkage.commit_check_ctids): no index, no scan, so
    SERIALIZABLE transactions never conflict through this table.
#}
{% macro commit_checks(ctx) %}
    create unlogged table if not exists {{ ctx.p }}.commit_checks (
        kind text not null,
        record_ids uuid[],
        message_ids uuid[],
        phones text[],
        guest_ids uuid[],
        user_ids uuid[],
        audited boolean not null default false,
        partitions integer[],
        send_clocks bigint[],
        link_snapshot pg_snapshot
    );
    alter table {{ ctx.p }}.commit_checks
        add column if not exists message_ids uuid[],
        add column if not exists phones text[];
    comment on table {{ ctx.p }}.commit_checks is
        'delivery_linkage: per-transaction work for commit time (race guard between sends and guest links).';
{% endmacro %}
