{#
    linkage_write_attempts(ctx, source_sql): THE one shape of an audit write: source_sql is a SELECT
    returning link_attempts' columns (linkage_attempt_columns, in that order), one row per group of
    attempts; the groups go to link_attempts in one INSERT. No EXCEPTION block (a subtransaction per
    statement of the app's would cost every send an XID of its own and overflow long transactions'
    subtransaction caches): the storage is built so it cannot refuse a row the linkage writes (no
    constraint but NOT NULL on columns always filled and the identity key, no trigger, no policy that
    applies to its owner), and `linkage check` and the data test assert_audit_storage_accepts_every_attempt
    verify that it stays so. Each row's created_at is the time it is written (clock_timestamp), not
    its transaction's start: a sweeper pass or an app transaction at READ COMMITTED can link a delivery
    whose insert committed after it began, and the link's audit row must come after the insert's when
    a delivery's audit is read in time order. Renders one SQL statement (no trailing semicolon).
#}
{% macro linkage_attempt_columns() -%}
    table_name, outcome, reason, event_id, message_id, phone_fallback_enabled, candidate_count,
    record_ids, linked_user_ids, matched_guest_ids, normalized_phones, candidate_counts, previous_user_ids
{%- endmacro %}

{% macro linkage_write_attempts(ctx, source_sql) -%}
    insert into {{ ctx.p }}.link_attempts (created_at, {{ linkage_attempt_columns() }})
    select pg_catalog.clock_timestamp(), attempts.* from (
        {{ source_sql }}
    ) as attempts
{%- endmacro %}
