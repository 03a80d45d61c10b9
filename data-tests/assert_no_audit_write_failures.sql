-- Warn: audit rows the linkage could not write (kept, with the error and the row as JSON, in the
-- private schema's audit_write_failures). The deliveries themselves were written and linked; the
-- audit trail lacks these rows until someone replays or discards them.

with

failures as (
    select * from {{ ref('stg_linkage_private__audit_write_failures') }}
)

select * from failures
