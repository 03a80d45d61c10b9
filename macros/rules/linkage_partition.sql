{#
    linkage_partition(event_id): the lock partition (0..15) of an event: the low four bits of the
    uuid's last byte. Sends and guest links of one event always meet in the same partition; see
    run_commit_checks for the protocol. linkage_lock_namespace(): the first key of every advisory lock
    the linkage takes (partition locks: second key 0..15; the deploy: second key -1).
#}
{% macro linkage_partition(event_id) -%}
    (pg_catalog.get_byte(pg_catalog.uuid_send({{ event_id }}), 15) & 15)
{%- endmacro %}

{% macro linkage_partition_count() -%}16{%- endmacro %}

{% macro linkage_lock_namespace() -%}1819175783{%- endmacro %}

{# The send or link clock of a partition: a sequence, read and written outside MVCC (see linkage_send_clocks). #}
{% macro linkage_send_clock(ctx, partition, kind='send') -%}
    pg_catalog.format('%I.%I', '{{ ctx.p }}', '{{ kind }}_clock_' || pg_catalog.lpad(({{ partition }})::text, 2, '0'))::regclass
{%- endmacro %}


{#
    linkage_remember_pending_partition(event_id_expression): adds the event's lock partition to the
    transaction's set (a 16-bit mask in the transaction-local setting delivery_linkage.pending_partitions);
    read by run_commit_checks to know which partitions to lock before it looks again.
#}
{% macro linkage_remember_pending_partition(event_id) -%}
    pg_catalog.set_config(
        'delivery_linkage.pending_partitions',
        (coalesce(nullif(pg_catalog.current_setting('delivery_linkage.pending_partitions', true), '')::integer, 0)
            | (1 << {{ linkage_partition(event_id) }}))::text,
        true
    )
    where coalesce(nullif(pg_catalog.current_setting('delivery_linkage.pending_partitions', true), '')::integer, 0)
        & (1 << {{ linkage_partition(event_id) }}) = 0
{%- endmacro %}


{#
    linkage_remember_row(setting, ctid_expression): appends a scratch row's ctid to a transaction-local
    setting (space-separated), the only way the linkage finds its scratch rows again
    (linkage_remembered_rows reads them back as tid[]).
#}
{% macro linkage_remember_row(setting, ctid) -%}
    pg_catalog.set_config(
        '{{ setting }}',
        coalesce(pg_catalog.current_setting('{{ setting }}', true), '') || ({{ ctid }})::text || ' ',
        true
    )
{%- endmacro %}

{% macro linkage_remembered_rows(setting) -%}
    pg_catalog.string_to_array(pg_catalog.btrim(coalesce(pg_catalog.current_setting('{{ setting }}', true), '')), ' ')::tid[]
{%- endmacro %}


{#
    linkage_queue_commit_checks(ctx, insert_sql): runs an INSERT into commit_checks (insert_sql, without
    RETURNING) and remembers the rows it queued for run_commit_checks. The caller declares v_queued text.
#}
{% macro linkage_queue_commit_checks(ctx, insert_sql) %}
        with queued as (
            {{ insert_sql }}
            returning ctid
        )
        select pg_catalog.string_agg(queued.ctid::text, ' ') into v_queued from queued;
        if v_queued is not null then
            perform pg_catalog.set_config(
                'delivery_linkage.commit_check_ctids',
                coalesce(pg_catalog.current_setting('delivery_linkage.commit_check_ctids', true), '') || v_queued || ' ',
                true
            );
        end if;
{% endmacro %}
