-- Error: delivery_integrity's counts (the total, each delivery category's, the defects) equal what
-- counting delivery_link_status's rows by category gives. Reads every delivery (tag full_scan).
-- Returns one row per count that differs.

{%- set category_list = linkage_delivery_categories() %}

with

integrity as (
    select * from {{ ref('delivery_integrity') }}
),

categories as (
    select * from {{ ref('delivery_categories') }}
),

link_status as (
    select * from {{ ref('delivery_link_status') }}
),

integrity_counts as (
    select
        'total_deliveries' as figure,
        integrity.total_deliveries as integrity_count
    from integrity
    {%- for category in category_list %}
        union all
        select
            '{{ category.name }}' as figure,
            integrity.{{ category.name }} as integrity_count
        from integrity
    {%- endfor %}
    union all
    select
        'inconsistent_deliveries' as figure,
        integrity.inconsistent_deliveries as integrity_count
    from integrity
),

status_counts as (
    select
        'total_deliveries' as figure,
        count(*) as status_count
    from link_status
    union all
    select
        categories.delivery_category as figure,
        count(link_status.delivery_id) as status_count
    from categories
    left join link_status
        on categories.delivery_category = link_status.delivery_category
    group by categories.delivery_category
    union all
    select
        'inconsistent_deliveries' as figure,
        count(link_status.delivery_id) as status_count
    from link_status
    inner join categories
        on link_status.delivery_category = categories.delivery_category
    where categories.is_defect
),

mismatches as (
    select
        coalesce(integrity_counts.figure, status_counts.figure) as figure,
        integrity_counts.integrity_count,
        status_counts.status_count
    from integrity_counts
    full join status_counts
        on integrity_counts.figure = status_counts.figure
    where integrity_counts.integrity_count is distinct from status_counts.status_count
)

select * from mismatches
