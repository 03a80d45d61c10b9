-- The delivery categories, one row each, in the order every output shows them: what each means and
-- whether it is the defect. Constants from macro linkage_delivery_categories (no table is read);
-- their counts are the columns of the same names in delivery_integrity, delivery_integrity_history
-- and daily_integrity_check, and the category of each delivery is delivery_link_status.delivery_category.

with

definitions as (
    select
        definition.category_order,
        definition.delivery_category,
        definition.delivery_user,
        definition.is_defect,
        definition.category_description
    from (
        values
        {%- for category in linkage_delivery_categories() %}
            (
                {{ loop.index }},
                '{{ category.name }}'::text,
                '{{ category.delivery_user }}'::text,
                {{ 'true' if category.is_defect else 'false' }},
                '{{ category.description | replace("'", "''") }}'::text
            ){{ ',' if not loop.last }}
        {%- endfor %}
    ) as definition (category_order, delivery_category, delivery_user, is_defect, category_description)
)

select * from definitions
