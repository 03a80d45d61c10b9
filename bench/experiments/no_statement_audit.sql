-- The project without its statement audit (trigger_message_deliveries_audit_links disabled): what
-- auditing every attempt in a statement of its own costs a send. Not a design to ship: every attempt
-- must be audited, and a send's queue entries are written there too.
alter table public.message_deliveries disable trigger trigger_message_deliveries_audit_links;
