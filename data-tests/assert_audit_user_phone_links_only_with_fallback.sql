-- Error: the users-phone rule links only while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is on.
-- Judges only the linkage's own audit rows: legacy rows (an adopted table's) follow other rules.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where audit_source = 'linkage'
    and reason in ('user_phone', 'historical_user_phone')
    and phone_fallback_enabled is distinct from true
