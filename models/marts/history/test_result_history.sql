-- Every test result dbt has produced here (data tests and unit tests), one row per test per
-- invocation, newest first per test, with whether its status changed since the previous invocation
-- that ran it: when a test started failing, and how often it warns.

with

node_results as (
    select * from {{ ref('dbt_node_results') }}
),

history as (
    select
        node_result_key,
        invocation_id,
        command,
        invocation_started_at,
        node_unique_id as test_unique_id,
        node_name as test_name,
        case when resource_type = 'unit_test' then 'unit' else 'data' end as test_kind,
        tested_node,
        column_name,
        test_severity,
        status,
        failures,
        message,
        execution_seconds,
        completed_at,
        lag(status) over runs_of_the_test as previous_status,
        lag(status) over runs_of_the_test is not null
        and lag(status) over runs_of_the_test <> status as is_status_change
    from node_results
    where resource_type in ('test', 'unit_test')
    window runs_of_the_test as (partition by node_unique_id order by invocation_started_at, completed_at)
)

select * from history
