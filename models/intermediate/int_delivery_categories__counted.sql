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

counts as (
    select
        now() as check_timestamp,
        count(*) as total_deliveries,
        {%- for category in categories %}
            count(*) filter (where delivery_category = '{{ category.name }}') as {{ category.name }},
        {%- endfor %}
        count(*) filter (
            where delivery_category in ('{{ defects | join("', '") }}')
        ) as inconsistent_deliveries,
        count(*) filter (where guest_exists) as runbook_total_deliveries,
        count(guest_user_id) filter (where delivery_user_id is null) as runbook_inconsistent_deliveries
    from categorized
)

select * from counts
