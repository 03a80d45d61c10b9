-- Warn: deliveries linked to a user other than their guest's current user.

with

conflicts as (
    select * from {{ ref('delivery_link_conflicts') }}
)

select * from conflicts
