with

source as (
    select * from {{ source('app', 'event_guests') }}
),

renamed as (
    select
        source.id as guest_id,
        source.event_id,
        source.user_id,
        source.phone,
        source.guest_name,
        source.removed_at,
        source.created_at,
        source.updated_at,
        {{ linkage_guest_is_active('source') }} as is_active,
        {{ linkage_guest_is_linkable('source') }} as is_linkable
    from source
)

select * from renamed
