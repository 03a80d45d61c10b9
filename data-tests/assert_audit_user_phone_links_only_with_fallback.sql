-- Error: the users-phone rule links only while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is on.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where reason in ('user_phone', 'historical_user_phone')
    and phone_fallback_enabled is distinct from true
