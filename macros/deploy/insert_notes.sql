{#
    insert_notes: what a delivery INSERT's row trigger tells the statement's audit trigger about the
    uncommon rows, keyed by transaction: rows whose user_id came from the app (not attempts: never
    audited) and rows decided by the phone rules (their decision, which the statement writes as is).
    The common rows (linked by their guest record; left for their not-yet-linkable guest) need no
    note. Unlogged and short-lived. A note is found again only by its ctid (kept in the
    transaction-local setting delivery_linkage.note_ctids; linkage_remember_row): no index, no scan,
    so a SERIALIZABLE transaction's predicate locks are on its own rows only and never make two
    unrelated sends look like they conflict.
#}
{% macro insert_notes(ctx) %}
    create unlogged table if not exists {{ ctx.p }}.insert_notes (
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
    comment on table {{ ctx.p }}.insert_notes is
        'delivery_linkage: per-transaction notes from the insert row trigger to the statement audit trigger (app-set user_ids, phone-rule decisions).';
{% endmacro %}
