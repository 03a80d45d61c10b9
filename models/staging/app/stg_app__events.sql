with

source as (
    select * from {{ source('app', 'events') }}
),

renamed as (
    select id as event_id
    from source
)

select * from renamed
