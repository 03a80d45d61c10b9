-- Runbook debugging query 1: deliveries with no user although their guest is active and linked,
-- newest first, with whether the delivery predates the guest's link (the mart of the same name).
-- dbt compile --select find_linkable_null_deliveries, then run the compiled SQL.

with

linkable_null as (
    select * from {{ ref('linkable_null_deliveries') }}
)

select * from linkable_null
order by delivery_created_at desc
limit 100
