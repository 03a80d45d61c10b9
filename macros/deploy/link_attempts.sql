{#
    link_attempts: where the audit is stored (the runbook's user_link_audit is a view over it, one row
    per attempt). One row holds a group of attempts written by one statement with the same table_name,
    outcome, reason, event and message: their record ids, and side by side only what cannot be read
    from elsewhere. A send to linked guests stores each delivery's id and the user it got (32 bytes an
    attempt, plus one row header per group); the guest and the phone of a guest_record or guest-link
    link are the delivery's own (guest_id, phone_number), read through the view. Decisions made by the
    phone rules store their matched guest, phone and candidate count too.
    Arrays are stored out of line without compression (uuids do not compress). Indexed by message (a
    delivery's attempts: user_link_audit_of) and by time (the runbook's queries; retention). created_at
    is written by linkage_write_attempts (the time of the write); the column's default serves nothing
    the linkage writes, and is left as earlier versions created it (changing it would lock the table).
#}
{% macro link_attempts(ctx) %}
    create table if not exists {{ ctx.p }}.link_attempts (
        id bigint generated always as identity primary key,
        created_at timestamptz not null default pg_catalog.now(),
        table_name text not null,
        outcome text not null,
        reason text not null,
        event_id uuid,
        message_id uuid,
        phone_fallback_enabled boolean,
        candidate_count integer,
        record_ids uuid[] not null,
        linked_user_ids uuid[],
        matched_guest_ids uuid[],
        normalized_phones text[],
        candidate_counts integer[],
        previous_user_ids uuid[]
    );
    alter table {{ ctx.p }}.link_attempts
        alter column record_ids set storage external,
        alter column linked_user_ids set storage external,
        alter column matched_guest_ids set storage external,
        alter column normalized_phones set storage external,
        alter column previous_user_ids set storage external;
    create index if not exists link_attempts_message_id_idx on {{ ctx.p }}.link_attempts (message_id);
    create index if not exists link_attempts_created_at_idx on {{ ctx.p }}.link_attempts (created_at);
    alter table {{ ctx.p }}.link_attempts enable row level security;
    comment on table {{ ctx.p }}.link_attempts is
        'delivery_linkage: the audit''s storage, one row per group of attempts; read it through {{ ctx.s }}.user_link_audit.';
{% endmacro %}
