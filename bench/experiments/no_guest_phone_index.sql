-- The project without its guest phone index (linkage_indexes.sql: event_guests (event_id,
-- normalize_phone(phone)) where removed_at is null): what maintaining it costs the app's writes to
-- event_guests. Not a design to ship: the phone rules look guests up through it.
drop index if exists public.event_guests_event_id_normalized_phone_idx;
