-- Error: the delivery categories' counts in delivery_integrity do not add up to total_deliveries
-- (a delivery counted twice or in none). Reads every delivery (tag full_scan). Returns the row.

{%- set categories = linkage_delivery_categories() %}

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
),

sums as (
    select
        total_deliveries,
        {%- for category in categories %}
            {{ category.name }}{{ ' +' if not loop.last }}
        {%- endfor %} as categorized_deliveries
    from integrity
)

select
    total_deliveries,
    categorized_deliveries
from sums
where categorized_deliveries is distinct from total_deliveries
