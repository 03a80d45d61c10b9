with

source as (
    select * from {{ source('app', 'user_link_audit') }}
),

renamed as (
    select
        id as audit_id,
        table_name,
        record_id as delivery_id,
        event_id,
        normalized_phone,
        matched_guest_id,
        linked_user_id,
        outcome,
        reason,
        candidate_count,
        phone_fallback_enabled,
        previous_user_id,
        created_at
    from source
)

select * from renamed
