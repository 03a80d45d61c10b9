-- Phones the linkage cannot decide on: an event whose active guests share a normalized phone
-- (group_type event_guests), and normalized phones shared by several users (group_type users),
-- with the event's title (how people know it).

with

phone_holders as (
    select * from {{ ref('int_phone_holders__normalized') }}
),

events as (
    select * from {{ ref('stg_app__events') }}
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
),

named as (
    select
        groups.phone_group_key,
        groups.group_type,
        groups.normalized_phone,
        groups.event_id,
        groups.member_count,
        events.event_title
    from groups
    left join events
        on groups.event_id = events.event_id
)

select * from named
