with

source as (
    select * from {{ source('app', 'event_guests') }}
),

renamed as (
    select
        id as guest_id,
        event_id,
        user_id,
        phone,
        guest_name,
        removed_at,
        created_at,
        updated_at,
        {{ linkage_guest_is_active('source') }} as is_active,
        {{ linkage_guest_is_linkable('source') }} as is_linkable
    from source
)

select * from renamed
