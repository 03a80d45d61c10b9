-- Phones the linkage cannot decide on: an event whose active guests share a normalized phone
-- (group_type event_guests), and normalized phones shared by several users (group_type users).

with

phone_holders as (
    select * from {{ ref('int_phone_holders__normalized') }}
),

groups as (
    select
        {{ linkage_grain_key(['group_type', 'normalized_phone', 'event_id']) }} as phone_group_key,
        group_type,
        normalized_phone,
        event_id,
        count(*) as member_count
    from phone_holders
    group by group_type, normalized_phone, event_id
    having count(*) > 1
)

select * from groups
