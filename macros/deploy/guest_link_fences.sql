{#
    guest_link_fences: one row per guest a delivery was left unlinked for. A statement that leaves a
    delivery of an existing guest with a NULL user_id rewrites its guest's row; a guest link made under
    REPEATABLE READ or SERIALIZABLE rewrites the rows of the guests it links first. Such a link runs its
    backfill in its transaction snapshot and cannot see a delivery committed after it; the rewrite then
    fails with a serialization failure (a row changed after the snapshot), which the app retries.
    Guest links under READ COMMITTED never touch it (their backfill reads a fresh snapshot).
#}
{% macro guest_link_fences(s) %}
    create table if not exists {{ s }}.guest_link_fences (
        guest_id uuid primary key,
        touched_at timestamptz not null default pg_catalog.now()
    );
    comment on table {{ s }}.guest_link_fences is
        'delivery_linkage: makes a guest link under REPEATABLE READ/SERIALIZABLE fail (serialization failure) when a delivery it cannot see was left unlinked for that guest.';
{% endmacro %}
