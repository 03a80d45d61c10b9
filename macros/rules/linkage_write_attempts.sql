{#
    linkage_write_attempts(ctx, source_sql): THE one shape of an audit write. source_sql is a SELECT
    returning link_attempts' columns (linkage_attempt_columns, in that order), one row per group of
    attempts. The groups go to link_attempts in one INSERT; if that INSERT fails for any reason other
    than a concurrency error the app must retry, each group is tried on its own, and a group that still
    cannot be stored goes whole, as JSON, with the error, to audit_write_failures (visible to
    `linkage check` and the data test assert_no_audit_write_failures) — the other groups are kept and
    the app's statement goes on. Only if even that fails is a WARNING all that is left.
    Renders PL/pgSQL statements; the caller declares v_attempt_group record.
#}
{% macro linkage_attempt_columns() -%}
    table_name, outcome, reason, event_id, message_id, phone_fallback_enabled, candidate_count,
    record_ids, linked_user_ids, matched_guest_ids, normalized_phones, candidate_counts, previous_user_ids
{%- endmacro %}

{% macro linkage_write_attempts(ctx, source_sql) %}
    begin
        insert into {{ ctx.p }}.link_attempts ({{ linkage_attempt_columns() }})
        {{ source_sql }};
    exception
        when serialization_failure or deadlock_detected or lock_not_available or query_canceled then
            raise;
        when others then
            -- the groups with their columns named (the source's own output names are whatever it selects)
            for v_attempt_group in select * from ({{ source_sql }}) as attempt_group ({{ linkage_attempt_columns() }}) loop
                begin
                    insert into {{ ctx.p }}.link_attempts ({{ linkage_attempt_columns() }})
                    values ({% for column in linkage_attempt_columns().split(',') %}v_attempt_group.{{ column | trim }}{{ ', ' if not loop.last }}{% endfor %});
                exception
                    when serialization_failure or deadlock_detected or lock_not_available or query_canceled then
                        raise;
                    when others then
                        begin
                            insert into {{ ctx.p }}.audit_write_failures (table_name, error, payload)
                            values (v_attempt_group.table_name, sqlstate || ': ' || sqlerrm, pg_catalog.to_jsonb(v_attempt_group));
                        exception when others then
                            raise warning 'delivery_linkage: audit of % attempts could not be stored: % (%)',
                                pg_catalog.cardinality(v_attempt_group.record_ids), sqlerrm, sqlstate;
                        end;
                end;
            end loop;
    end;
{% endmacro %}
