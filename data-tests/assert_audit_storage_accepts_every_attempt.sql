-- Error: the write path's own tables (the audit's storage, the sweeper's queue, the row trigger's
-- notes) carry something that would refuse a row the linkage writes in the app's statement — a
-- constraint, a trigger, forced row-level security an operator added. The app's writes would fail.
-- One row per problem (delivery_linkage.audit_storage_problems()).

with

problems as (
    select found.problem
    from {{ linkage_private_schema() }}.audit_storage_problems() as found (problem)
)

select * from problems
