-- Who holds which phone, as E.164 (the deployed normalize_phone, the linkage's own rule): active
-- guests per event, and users. Phones that do not normalize are left out: they never match.

with

guests as (
    select * from {{ ref('stg_app__event_guests') }}
),

users as (
    select * from {{ ref('stg_app__users') }}
),

active_guest_phones as (
    select
        'event_guests' as group_type,
        guest_id as holder_id,
        event_id,
        {{ linkage_schema() }}.normalize_phone(phone) as normalized_phone
    from guests
    where is_active
),

user_phones as (
    select
        'users' as group_type,
        user_id as holder_id,
        null::uuid as event_id,
        {{ linkage_schema() }}.normalize_phone(phone) as normalized_phone
    from users
),

phone_holders as (
    select * from active_guest_phones
    union all
    select * from user_phones
),

normalized as (
    select
        {{ linkage_grain_key(['group_type', 'holder_id']) }} as phone_holder_key,
        group_type,
        holder_id,
        event_id,
        normalized_phone
    from phone_holders
    where normalized_phone is not null
)

select * from normalized
