-- Error: a link is only ever made on exactly one candidate.

with

audit as (
    select * from {{ ref('stg_app__user_link_audit') }}
)

select * from audit
where outcome = 'linked'
    and candidate_count is distinct from 1
