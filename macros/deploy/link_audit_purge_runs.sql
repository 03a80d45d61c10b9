{#
    link_audit_purge_runs: one row per audit retention run (purge_link_audit): when, how many days
    kept, the cutoff and how many attempts and legacy rows were deleted. No personal data.
#}
{% macro link_audit_purge_runs(ctx) %}
    create table if not exists {{ ctx.p }}.link_audit_purge_runs (
        id bigint generated always as identity primary key,
        ran_at timestamptz not null default pg_catalog.now(),
        retain_days integer not null,
        cutoff timestamptz not null,
        attempts_deleted bigint not null,
        legacy_rows_deleted bigint not null
    );
    comment on table {{ ctx.p }}.link_audit_purge_runs is
        'delivery_linkage: log of audit retention runs (purge_link_audit, and the original''s run_user_link_audit_purge).';
{% endmacro %}
