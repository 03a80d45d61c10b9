{#
    audit_write_failures: audit groups that could not be stored in link_attempts, kept whole as JSON
    with the error, so an audit write failure never loses the attempts or takes the app's statement
    with it. `linkage check` warns and the data test assert_no_audit_write_failures fails while it is
    not empty; an operator re-inserts or deletes the rows once the cause is fixed.
#}
{% macro audit_write_failures(ctx) %}
    create table if not exists {{ ctx.p }}.audit_write_failures (
        id bigint generated always as identity primary key,
        created_at timestamptz not null default pg_catalog.now(),
        table_name text,
        error text not null,
        payload jsonb not null
    );
    comment on table {{ ctx.p }}.audit_write_failures is
        'delivery_linkage: audit groups that could not be written to link_attempts, with the error; never silently lost.';
{% endmacro %}
