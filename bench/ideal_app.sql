-- The benchmark's "ideal app" reference: the app links each delivery itself, in the same INSERT.
--
-- Nothing is installed: the ideal app's copy of the data is the bare app schema, like the floor's.
-- What differs is the app's statements: each INSERT takes user_id from the delivery's guest through a
-- join to event_guests (the active guest's user; NULL for a removed or unlinked guest, or none). That is
-- the physical limit of linking at insert: one index lookup per row inside the statement and the
-- foreign-key check on user_id that setting it costs, no trigger, no function call, no audit.
-- `linkage bench` reads the statements below by name (`-- statement: NAME` up to the next one); each
-- takes the same parameters, in the same order, as the floor's statement it replaces
-- (src/delivery_linkage/devtools/bench/workloads.py: INSERT_MANY, INSERT_ONE).

-- statement: insert_many
-- one announcement send: (message_id, guest_ids uuid[], phones text[])
insert into public.message_deliveries (message_id, guest_id, phone_number, user_id)
select %s, delivery.guest_id, delivery.phone_number, guest.user_id
from unnest(%s::uuid[], %s::text[]) as delivery (guest_id, phone_number)
left join public.event_guests as guest on guest.id = delivery.guest_id and guest.removed_at is null

-- statement: insert_one
-- one delivery in its own transaction: (message_id, guest_id, phone_number)
insert into public.message_deliveries (message_id, guest_id, phone_number, user_id)
select delivery.message_id, delivery.guest_id, delivery.phone_number, guest.user_id
from (values (%s::uuid, %s::uuid, %s::varchar)) as delivery (message_id, guest_id, phone_number)
left join public.event_guests as guest on guest.id = delivery.guest_id and guest.removed_at is null
