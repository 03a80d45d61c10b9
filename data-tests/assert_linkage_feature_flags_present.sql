-- Error: a feature flag the linkage reads has no row in feature_flags. get_feature_flag reads a
-- missing flag as off, so a truncated or deleted feature_flags turns the linking off silently;
-- the next deploy (dbt run) inserts the missing rows with their default values.

with

flags as (
    select * from {{ ref('linkage_feature_flags') }}
)

select * from flags
where not is_present
