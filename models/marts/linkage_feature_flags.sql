-- The linkage's feature flags, one row each whether or not its row exists in feature_flags: a
-- missing row reads as off (get_feature_flag returns false for an unknown flag), so deleting the
-- LINK_USER_BY_PHONE row turns linking off without a word. The test
-- assert_linkage_feature_flags_present fails the run on it.

with

flags as (
    select * from {{ ref('stg_app__feature_flags') }}
),

expected_flags as (
    select
        expected.flag_name,
        expected.default_enabled
    from (
        values
        {%- for flag in linkage_feature_flags() %}
            ('{{ flag.flag_name }}'::text, {{ flag.default_enabled }}::boolean){{ ',' if not loop.last }}
        {%- endfor %}
    ) as expected (flag_name, default_enabled)
),

flag_status as (
    select
        expected_flags.flag_name,
        flags.flag_name is not null as is_present,
        coalesce(flags.enabled, false) as is_enabled,
        expected_flags.default_enabled
    from expected_flags
    left join flags
        on expected_flags.flag_name = flags.flag_name
)

select * from flag_status
