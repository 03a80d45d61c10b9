{#
    The indexes the linkage's lookups need, each created only where no equivalent exists.
    On a table larger than var linkage_inline_index_max_rows (estimated) the index is not built inside
    the deploy transaction, which would block the table's writes while it builds: the deploy says so.
    The list exists once, here; the deploy records it in linkage_indexes (with what counts as an
    equivalent index), from which `linkage indexes` builds CONCURRENTLY every one that has no valid
    equivalent — skipped by the deploy, or dropped since; an equivalent index under another name counts.
#}
{% macro linkage_indexes(ctx) %}
    {%- set s = ctx.s -%}
    create table if not exists {{ ctx.p }}.linkage_indexes (
        index_name text primary key,
        table_name text not null,
        create_statement text not null,
        equivalent text not null,
        deferred_at timestamptz
    );
    comment on table {{ ctx.p }}.linkage_indexes is
        'delivery_linkage: the indexes the linkage needs and what counts as an equivalent one; deferred_at: not built inline by the deploy (a large table). `linkage indexes` builds the missing ones CONCURRENTLY.';
    delete from {{ ctx.p }}.linkage_indexes;
    insert into {{ ctx.p }}.linkage_indexes (index_name, table_name, create_statement, equivalent) values
    {%- for index in linkage_index_definitions(s) %}
        ('{{ index.name }}', '{{ s }}.{{ index.table }}',
         'create index concurrently if not exists {{ index.name }} on {{ s }}.{{ index.table }} {{ index.definition | replace("'", "''") }}',
         '{{ index.equivalent | replace("'", "''") }}'){{ ',' if not loop.last else ';' }}
    {%- endfor %}
    {%- for index in linkage_index_definitions(s) %}
    if not exists (
        select 1 from pg_catalog.pg_index as i
        where i.indrelid = '{{ s }}.{{ index.table }}'::regclass
          and i.indisvalid
          and {{ index.equivalent }}
    ) then
        v_table_rows := (
            select case when c.reltuples >= 0 then c.reltuples::bigint
                        else pg_catalog.pg_relation_size(c.oid) / 8192 * 60 end
            from pg_catalog.pg_class as c where c.oid = '{{ s }}.{{ index.table }}'::regclass
        );
        if v_table_rows <= {{ var('linkage_inline_index_max_rows', 200000) }} then
            {{ linkage_lock_app_tables(s) }}
            drop index if exists {{ s }}.{{ index.name }};
            create index {{ index.name }} on {{ s }}.{{ index.table }} {{ index.definition }};
        else
            update {{ ctx.p }}.linkage_indexes set deferred_at = pg_catalog.now() where index_name = '{{ index.name }}';
            raise warning 'delivery_linkage: index {{ s }}.{{ index.name }} not built inline (about % rows in {{ index.table }}); run `linkage indexes` to build it CONCURRENTLY', v_table_rows;
        end if;
    end if;
    {%- endfor %}
{% endmacro %}


{% macro linkage_index_definitions(s) %}
    {%- set column_attnum = "(select a.attnum from pg_catalog.pg_attribute as a where a.attrelid = i.indrelid and a.attname = '%s')" -%}
    {{ return([
        {
            'name': 'message_deliveries_unlinked_id_idx',
            'table': 'message_deliveries',
            'definition': '(id) where user_id is null',
            'equivalent': "i.indkey[0] = " ~ (column_attnum | format('id')) ~ " and pg_catalog.pg_get_expr(i.indpred, i.indrelid) = '(user_id IS NULL)'",
        },
        {
            'name': 'message_deliveries_unlinked_guest_id_idx',
            'table': 'message_deliveries',
            'definition': '(guest_id) where user_id is null',
            'equivalent': "i.indkey[0] = " ~ (column_attnum | format('guest_id')) ~ " and pg_catalog.pg_get_expr(i.indpred, i.indrelid) = '(user_id IS NULL)'",
        },
        {
            'name': 'event_guests_event_id_normalized_phone_idx',
            'table': 'event_guests',
            'definition': '(event_id, ' ~ s ~ '.normalize_phone(phone)) where removed_at is null',
            'equivalent': "i.indkey[0] = " ~ (column_attnum | format('event_id')) ~ " and pg_catalog.pg_get_indexdef(i.indexrelid) like '%normalize_phone(phone)%'",
        },
        {
            'name': 'users_normalized_phone_idx',
            'table': 'users',
            'definition': '(' ~ s ~ '.normalize_phone(phone))',
            'equivalent': "pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) like '%normalize_phone(phone)%'",
        },
    ]) }}
{% endmacro %}
