-- Every delivery counted once, by category, in one row and one pass over the categorized deliveries:
-- the total, one count per delivery category (the list in macro linkage_delivery_categories; they add
-- up to the total), the defects among them (inconsistent_deliveries: the categories marked is_defect),
-- and the runbook's own figure on the same pass (the original daily script: deliveries joined to their
-- guest; a delivery with no user whose guest has one is inconsistent, removed guests and guests of
-- another event included). Reads every delivery: each run of delivery_integrity_history reads it once,
-- beside the hourly figures (int_delivery_integrity__counts) in the same statement.

{%- set categories = linkage_delivery_categories() %}
{%- set defects = categories | selectattr('is_defect') | map(attribute='name') | list %}

with

categorized as (
    select * from {{ ref('int_message_deliveries__categorized') }}
),

by_category as (
    -- the category is computed once per delivery and grouped (cheaper than one filter per category)
    select
        delivery_category,
        count(*) as deliveries,
        count(*) filter (where guest_exists) as deliveries_with_guest,
        count(guest_user_id) filter (where delivery_user_id is null) as null_deliveries_with_guest_user
    from categorized
    group by delivery_category
),

counts as (
    select
        now() as check_timestamp,
        coalesce(sum(deliveries), 0)::bigint as total_deliveries,
        {%- for category in categories %}
            coalesce(sum(deliveries) filter (where delivery_category = '{{ category.name }}'), 0)::bigint
                as {{ category.name }},
        {%- endfor %}
        coalesce(
            sum(deliveries) filter (where delivery_category in ('{{ defects | join("', '") }}')), 0
        )::bigint as inconsistent_deliveries,
        coalesce(sum(deliveries_with_guest), 0)::bigint as runbook_total_deliveries,
        coalesce(sum(null_deliveries_with_guest_user), 0)::bigint as runbook_inconsistent_deliveries
    from by_category
)

select * from counts
