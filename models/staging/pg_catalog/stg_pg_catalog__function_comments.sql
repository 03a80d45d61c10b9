-- pg_description holds the comments of every kind of object: only functions' own comments here.

with

source as (
    select * from {{ source('pg_catalog', 'pg_description') }}
),

renamed as (
    select
        objoid as function_oid,
        description as function_comment
    from source
    where
        classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
        and objsubid = 0
)

select * from renamed
