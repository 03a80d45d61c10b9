{#
    audit_storage_problems() → setof text: what would make the write path's own tables refuse a row
    the linkage writes in the app's statement (link_attempts, guest_link_queue, app_linked_deliveries):
    a constraint besides the primary key and NOT NULL, a trigger, row-level security forced on their
    owner. The deploy creates none of these; an operator's change to them would make the app's writes
    fail (the audit is written with no EXCEPTION block). `linkage check` reports each one and the data
    test assert_audit_storage_accepts_every_attempt fails on it, before an app write does.
#}
{% macro audit_storage_problems(ctx) %}
    create or replace function {{ ctx.p }}.audit_storage_problems()
    returns setof text
    {{ linkage_definer_attributes('sql', 'stable') }}
    as $function$
        select pg_catalog.format('constraint %I on %s (%s)', c.conname, c.conrelid::regclass, pg_catalog.pg_get_constraintdef(c.oid))
        from pg_catalog.pg_constraint as c
        where c.conrelid in (
                  '{{ ctx.p }}.link_attempts'::regclass, '{{ ctx.p }}.guest_link_queue'::regclass,
                  '{{ ctx.p }}.app_linked_deliveries'::regclass
              )
          and c.contype not in ('p', 'n')
        union all
        select pg_catalog.format('trigger %I on %s', t.tgname, t.tgrelid::regclass)
        from pg_catalog.pg_trigger as t
        where t.tgrelid in (
                  '{{ ctx.p }}.link_attempts'::regclass, '{{ ctx.p }}.guest_link_queue'::regclass,
                  '{{ ctx.p }}.app_linked_deliveries'::regclass
              )
          and not t.tgisinternal
        union all
        select pg_catalog.format('row-level security forced on %s', r.oid::regclass)
        from pg_catalog.pg_class as r
        where r.oid in (
                  '{{ ctx.p }}.link_attempts'::regclass, '{{ ctx.p }}.guest_link_queue'::regclass,
                  '{{ ctx.p }}.app_linked_deliveries'::regclass
              )
          and r.relforcerowsecurity
    $function$;
    comment on function {{ ctx.p }}.audit_storage_problems() is
        'delivery_linkage: what would make the write path''s own tables refuse a row the linkage writes (none after a deploy).';
{% endmacro %}
