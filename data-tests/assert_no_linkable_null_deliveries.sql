-- Warn: any delivery with no user although its guest is active and linked (the defect).
-- Returns the defective deliveries; stored in the audit schema (store_failures).

with

linkable_null as (
    select * from {{ ref('linkable_null_deliveries') }}
)

select * from linkable_null
