-- The project with a plain (event_id, phone) index in place of its guest phone index: the index's
-- upkeep without the normalize_phone expression. Not a design to ship: it cannot serve the phone
-- rules, which compare normalized phones.
drop index if exists public.event_guests_event_id_normalized_phone_idx;
create index event_guests_event_id_phone_plain_idx on public.event_guests (event_id, phone) where removed_at is null;
