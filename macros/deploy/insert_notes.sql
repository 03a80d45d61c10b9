{#
    insert_notes: what a delivery INSERT's row trigger tells the statement's audit trigger about the
    uncommon rows, keyed by transaction: rows whose user_id came from the app (not attempts: never
    audited) and rows decided by the phone rules (their decision, which the statement writes as is).
    The common rows (linked by their guest record; left for their not-yet-linkable guest) need no
    note. Unlogged and short-lived: the statement trigger reads and deletes its transaction's notes.
#}
{% macro insert_notes(ctx) %}
    create unlogged table if not exists {{ ctx.p }}.insert_notes (
        transaction_id xid8 not null default pg_catalog.pg_current_xact_id(),
        record_id uuid not null,
        kind text not null,
        event_id uuid,
        guest_id uuid,
        normalized_phone text,
        matched_guest_id uuid,
        linked_user_id uuid,
        outcome text,
        reason text,
        candidate_count integer,
        phone_fallback_enabled boolean,
        pending boolean not null default false
    );
    create index if not exists insert_notes_transaction_id_idx on {{ ctx.p }}.insert_notes (transaction_id);
    comment on table {{ ctx.p }}.insert_notes is
        'delivery_linkage: per-transaction notes from the insert row trigger to the statement audit trigger (app-set user_ids, phone-rule decisions).';
{% endmacro %}
