with

source as (
    select * from {{ source('app', 'users') }}
),

renamed as (
    select
        id as user_id,
        phone
    from source
)

select * from renamed
