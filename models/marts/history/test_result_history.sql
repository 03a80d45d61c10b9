-- Every test result dbt has produced here (data tests and unit tests), one row per test per
-- invocation, newest first per test, with whether its status changed since the previous invocation
-- that ran it: when a test started failing, and how often it warns.

with

node_results as (
    select * from {{ ref('dbt_node_results') }}
),

test_results as (
    select
        node_result_key,
        invocation_id,
        command,
        invocation_started_at,
        node_unique_id as test_unique_id,
        node_name as test_name,
        resource_type,
        tested_node,
        column_name,
        test_severity,
        status,
        failures,
        message,
        execution_seconds,
        completed_at
    from node_results
    where resource_type in ('test', 'unit_test')
),

with_previous as (
    select
        node_result_key,
        invocation_id,
        command,
        invocation_started_at,
        test_unique_id,
        test_name,
        case when resource_type = 'unit_test' then 'unit' else 'data' end as test_kind,
        tested_node,
        column_name,
        test_severity,
        status,
        failures,
        message,
        execution_seconds,
        completed_at,
        lag(status) over (
            partition by test_unique_id order by invocation_started_at, completed_at
        ) as previous_status
    from test_results
),

history as (
    select
        node_result_key,
        invocation_id,
        command,
        invocation_started_at,
        test_unique_id,
        test_name,
        test_kind,
        tested_node,
        column_name,
        test_severity,
        status,
        failures,
        message,
        execution_seconds,
        completed_at,
        previous_status,
        previous_status is not null and previous_status <> status as is_status_change
    from with_previous
)

select * from history
