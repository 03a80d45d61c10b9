-- Error: the share of linkable-but-NULL deliveries is above var linkage_critical_pct (the
-- runbook's "investigate immediately"). Returns the delivery_integrity row when critical.

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
)

select * from integrity
where health_status = 'critical'
