with

source as (
    select * from {{ source('app', 'feature_flags') }}
),

renamed as (
    select
        flag_name::text as flag_name,
        enabled
    from source
)

select * from renamed
