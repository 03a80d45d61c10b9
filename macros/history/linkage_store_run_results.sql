{#
    linkage_store_run_results(results): the on-run-end hook. Appends one row per node result of this
    invocation (models, tests, unit tests, seeds, snapshots: status, failures, message, timing, and
    for tests their severity and the node they test) to the model dbt_node_results, which keeps them
    across runs (incremental, never rebuilt by --full-refresh). test_result_history reads it.

    Returns the INSERT for dbt to run (outside a transaction, so it is committed by itself), or
    nothing when there is nothing to record, dbt_node_results was never built (it logs how), or the
    database is a hot standby, which cannot be written (it says so: the primary's runs are kept).
#}
{% macro linkage_store_run_results(results) %}
    {%- if not execute or flags.WHICH not in ['run', 'test', 'build', 'seed', 'snapshot'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- if linkage_is_hot_standby() -%}
        {{ log('delivery_linkage: hot standby (pg_is_in_recovery), results of this run not kept in dbt_node_results (the primary keeps its own runs)', info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set store = linkage_history_store() -%}
    {%- if store is none -%}
        {{ log('delivery_linkage: dbt_node_results not built yet, results of this run not kept (`dbt run --select dbt_node_results` creates it)', info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set rows = [] -%}
    {%- for result in results
        if result.node is defined
        and result.node.resource_type in ['model', 'test', 'unit_test', 'seed', 'snapshot'] -%}
        {%- set node = result.node -%}
        {%- set execute_timing = result.timing | selectattr('name', 'equalto', 'execute') | list -%}
        {%- set started_at = execute_timing[0].started_at if execute_timing else none -%}
        {%- set completed_at = execute_timing[0].completed_at if execute_timing else none -%}
        {%- set is_test = node.resource_type in ['test', 'unit_test'] -%}
        {%- set tested_node = node.attached_node if node.attached_node is defined and node.attached_node
            else (node.depends_on.nodes | first if is_test and node.depends_on.nodes else none) -%}
        {%- set rows_affected = (result.adapter_response or {}).get('rows_affected') -%}
        {%- do rows.append('(' ~ [
            linkage_sql_literal(invocation_id ~ '|' ~ node.unique_id),
            linkage_sql_literal(invocation_id),
            linkage_sql_literal(flags.WHICH),
            linkage_sql_literal(run_started_at.isoformat()) ~ '::timestamptz',
            linkage_sql_literal(dbt_version),
            linkage_sql_literal(target.name),
            linkage_sql_literal(node.unique_id),
            linkage_sql_literal(node.resource_type),
            linkage_sql_literal(node.name),
            linkage_sql_literal(result.status | string),
            linkage_sql_literal(result.failures) ~ '::bigint',
            linkage_sql_literal((result.message or '') | string | truncate(2000, true, '…', 0)),
            linkage_sql_literal(result.execution_time) ~ '::double precision',
            (linkage_sql_literal(started_at.isoformat()) ~ "::timestamp at time zone 'UTC'") if started_at else 'null',
            (linkage_sql_literal(completed_at.isoformat()) ~ "::timestamp at time zone 'UTC'") if completed_at else 'null',
            linkage_sql_literal(rows_affected) ~ '::bigint',
            linkage_sql_literal(node.config.severity | lower if is_test and node.config.severity is defined else none),
            linkage_sql_literal(tested_node),
            linkage_sql_literal(node.column_name if is_test and node.column_name is defined else none),
        ] | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- if not rows -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(
        'insert into ' ~ store ~ ' (node_result_key, invocation_id, command, invocation_started_at, '
        ~ 'dbt_version, target_name, node_unique_id, resource_type, node_name, status, failures, message, '
        ~ 'execution_seconds, started_at, completed_at, rows_affected, test_severity, tested_node, column_name) '
        ~ 'values\n' ~ rows | join(',\n')
        ~ '\non conflict do nothing'
    ) }}
{% endmacro %}


{# linkage_history_store(): the relation of the model dbt_node_results, or none while it does not exist. #}
{% macro linkage_history_store() %}
    {%- set node = graph.nodes.get('model.delivery_linkage.dbt_node_results') -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{% endmacro %}


{# linkage_sql_literal(value): a SQL literal of value: NULL for none, else a quoted string. #}
{% macro linkage_sql_literal(value) %}
    {%- if value is none -%}
        {{ return('null') }}
    {%- endif -%}
    {{ return("'" ~ (value | string).replace("'", "''") ~ "'") }}
{% endmacro %}
