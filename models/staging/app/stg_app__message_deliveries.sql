with

source as (
    select * from {{ source('app', 'message_deliveries') }}
),

renamed as (
    select
        id as delivery_id,
        message_id,
        guest_id,
        phone_number::text as phone_number,
        user_id,
        created_at
    from source
)

select * from renamed
