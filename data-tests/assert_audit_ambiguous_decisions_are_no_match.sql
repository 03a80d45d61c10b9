-- Error: a decision with more than one candidate (ambiguous guests or users) never links.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where candidate_count > 1
    and outcome <> 'no_match'
