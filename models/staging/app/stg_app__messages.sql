with

source as (
    select * from {{ source('app', 'messages') }}
),

renamed as (
    select
        id as message_id,
        event_id
    from source
)

select * from renamed
