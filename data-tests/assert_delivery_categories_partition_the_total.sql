-- Error: the delivery categories counted by the last run of delivery_integrity_history do not add up
-- to the total that run counted over every delivery (a delivery counted in two categories or in
-- none). Reads that one row, no delivery. Returns the row.

{%- set categories = linkage_delivery_categories() %}

with

last_counted as (
    select * from {{ ref('int_delivery_integrity__last_counted') }}
),

sums as (
    select
        check_timestamp,
        categorized_total_deliveries,
        {%- for category in categories %}
            {{ category.name }}{{ ' +' if not loop.last }}
        {%- endfor %} as categorized_deliveries
    from last_counted
)

select
    check_timestamp,
    categorized_total_deliveries,
    categorized_deliveries
from sums
where categorized_deliveries is distinct from categorized_total_deliveries
