-- A small world lived through the original system (run under SET ROLE platform_owner, the guards not
-- yet installed). Every delivery is written the way the app writes it, through upsert_message_delivery
-- (as service_role) or a plain insert, so the original trigger links and audits as it did: the legacy
-- audit rows below are the original system's own output, not hand-made rows. Each phase commits, so
-- the rows of different phases carry different timestamps (the builder runs each phase, up to its
-- `commit;`, as a query of its own: statements of one query share one now()).
--
-- Cast (ids spell who is who; phones are E.164):
--   users   hana +15550000001 (hosts A), omar +15550000002 (hosts B, C), ava +15550000101 (signed up
--           first), ben +15550000102 and cleo +15550000103 (sign up after the first messages), dev (signed
--           up as +15550000199, later changes his phone to +15550000104, the phone he was invited with).
--           users_phone_key makes two users with one phone impossible.
--   events  A "Hana & Leo Wedding", B "Omar's 40th", C "Spring Gala 2024" (old: its audit is purged).
--   guests  A: Hana (host), Ava, Ben, Cleo (removed later), Dev, Fay (never signs up), Gus (no phone),
--           Kim (removed, then invited again as a new row with the same phone), Ivy (+15550000108, a
--           family phone Jon uses in B); B: Omar (host), Ben, Jon, Ava, and for a while Jon's partner on
--           Jon's phone; C: Ava, Fay.
--
-- What the original system writes on the way (see test_unveil_fixture.py and README.md):
--   linked     guest already linked; or, the guest unlinked, the only user with that phone (Dev, after
--              his phone change: the delivery gets his user while his guest row stays unlinked);
--   no_match   guest not linked and no user has the phone (yet);
--   skipped    while linking was switched off (the documented kill switch: replace get_feature_flag);
--   ambiguous  two active guests with one phone in one event: impossible under the final schema's
--              unique index, so produced while the index was absent (the history before the canonical
--              membership constraints), then the duplicate removed and the index restored;
--   no row     delivery without a guest, without a phone, with an empty or unusable phone;
--   dry runs   backfill_user_links(..., p_dry_run => true) audits 'linked' for deliveries it leaves NULL;
--   phantom    a send retried through upsert_message_delivery hits ON CONFLICT: the BEFORE INSERT
--              trigger runs first on the proposed row and audits its never-stored id.
-- The daily integrity script's figures at the end: 39 deliveries with a guest, 3 inconsistent
-- (Cleo's first delivery in A, her guest row removed since; Ben's first in B; Ava's sent while
-- linking was off), 7.69 %, NEEDS_ATTENTION.

-- sends a message to every active guest of its event that has no delivery for it yet, as the app's
-- server does (one upsert_message_delivery per guest, the guest's phone as the delivery's phone)
create function pg_temp.send_message(p_message_id uuid) returns integer
language plpgsql
as $$
declare
    g record;
    sent integer := 0;
begin
    for g in
        select eg.id, eg.phone
        from public.messages m
        join public.event_guests eg on eg.event_id = m.event_id and eg.removed_at is null
        where m.id = p_message_id
          and not exists (
              select 1 from public.message_deliveries d where d.message_id = m.id and d.guest_id = eg.id
          )
        order by eg.created_at, eg.id
    loop
        perform public.upsert_message_delivery(p_message_id, g.id, g.phone);
        sent := sent + 1;
    end loop;
    return sent;
end;
$$;

-- ---------------------------------------------------------------------------------------------------
-- 1. the first users, the events, the guest lists

insert into public.users (id, phone, full_name, onboarding_completed) values
    ('10000000-0000-4000-8000-000000000001', '+15550000001', 'Hana', true),
    ('10000000-0000-4000-8000-000000000002', '+15550000002', 'Omar', true),
    ('10000000-0000-4000-8000-000000000003', '+15550000101', 'Ava', true),
    ('10000000-0000-4000-8000-000000000006', '+15550000199', 'Dev', true);

insert into public.events (id, title, event_date, host_user_id, time_zone, sms_tag) values
    ('20000000-0000-4000-8000-00000000000a', 'Hana & Leo Wedding', date '2026-06-20',
     '10000000-0000-4000-8000-000000000001', 'America/Chicago', 'Hana+Leo'),
    ('20000000-0000-4000-8000-00000000000b', 'Omar''s 40th', date '2026-03-14',
     '10000000-0000-4000-8000-000000000002', 'America/New_York', 'Omar40'),
    ('20000000-0000-4000-8000-00000000000c', 'Spring Gala 2024', date '2024-04-27',
     '10000000-0000-4000-8000-000000000002', 'America/New_York', null);

-- hosts are guests of their own event with role 'host' (create_event_with_host_atomic does that)
insert into public.event_guests (id, event_id, user_id, guest_name, phone, role, joined_at) values
    ('30000000-0000-4000-8000-0000000000a0', '20000000-0000-4000-8000-00000000000a',
     '10000000-0000-4000-8000-000000000001', 'Hana', '+15550000001', 'host', now()),
    ('30000000-0000-4000-8000-0000000000b0', '20000000-0000-4000-8000-00000000000b',
     '10000000-0000-4000-8000-000000000002', 'Omar', '+15550000002', 'host', now());

-- invited guests (Ava's rows get her user at once through trg_assign_user_id_from_phone)
insert into public.event_guests (id, event_id, guest_name, phone, invited_at) values
    ('30000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-00000000000a', 'Ava', '+15550000101', now()),
    ('30000000-0000-4000-8000-0000000000a2', '20000000-0000-4000-8000-00000000000a', 'Ben', '+15550000102', now()),
    ('30000000-0000-4000-8000-0000000000a3', '20000000-0000-4000-8000-00000000000a', 'Cleo', '+15550000103', now()),
    ('30000000-0000-4000-8000-0000000000a4', '20000000-0000-4000-8000-00000000000a', 'Dev', '+15550000104', now()),
    ('30000000-0000-4000-8000-0000000000a5', '20000000-0000-4000-8000-00000000000a', 'Fay', '+15550000106', now()),
    ('30000000-0000-4000-8000-0000000000a6', '20000000-0000-4000-8000-00000000000a', 'Gus', null, now()),
    ('30000000-0000-4000-8000-0000000000a7', '20000000-0000-4000-8000-00000000000a', 'Kim', '+15550000109', now()),
    ('30000000-0000-4000-8000-0000000000a8', '20000000-0000-4000-8000-00000000000a', 'Ivy', '+15550000108', now()),
    ('30000000-0000-4000-8000-0000000000b1', '20000000-0000-4000-8000-00000000000b', 'Ben', '+15550000102', now()),
    ('30000000-0000-4000-8000-0000000000b2', '20000000-0000-4000-8000-00000000000b', 'Jon', '+15550000108', now()),
    ('30000000-0000-4000-8000-0000000000b3', '20000000-0000-4000-8000-00000000000b', 'Ava', '+15550000101', now()),
    ('30000000-0000-4000-8000-0000000000c1', '20000000-0000-4000-8000-00000000000c', 'Ava', '+15550000101', now()),
    ('30000000-0000-4000-8000-0000000000c2', '20000000-0000-4000-8000-00000000000c', 'Fay', '+15550000106', now());

insert into public.messages (id, event_id, sender_user_id, content, message_type) values
    ('40000000-0000-4000-8000-0000000000c1', '20000000-0000-4000-8000-00000000000c',
     '10000000-0000-4000-8000-000000000002', 'Thank you for coming!', 'announcement'),
    ('40000000-0000-4000-8000-0000000000a1', '20000000-0000-4000-8000-00000000000a',
     '10000000-0000-4000-8000-000000000001', 'Save the date: June 20', 'announcement'),
    ('40000000-0000-4000-8000-0000000000b1', '20000000-0000-4000-8000-00000000000b',
     '10000000-0000-4000-8000-000000000002', 'You are invited to my 40th', 'announcement');
commit;

-- ---------------------------------------------------------------------------------------------------
-- 2. the first messages, before Ben and Cleo have accounts

set role service_role;
select pg_temp.send_message('40000000-0000-4000-8000-0000000000c1');
commit;
select pg_temp.send_message('40000000-0000-4000-8000-0000000000a1');
commit;
select pg_temp.send_message('40000000-0000-4000-8000-0000000000b1');
commit;
set role platform_owner;

-- ---------------------------------------------------------------------------------------------------
-- 3. Ben and Cleo sign up: link_guests_on_user_creation links their guest rows; their earlier
--    deliveries keep a NULL user (the bug the project exists for)

insert into public.users (id, phone, full_name) values
    ('10000000-0000-4000-8000-000000000004', '+15550000102', 'Ben');
commit;
insert into public.users (id, phone, full_name) values
    ('10000000-0000-4000-8000-000000000005', '+15550000103', 'Cleo');
commit;

-- a delivery receipt for Ben's first delivery in A, through the RPC without a phone: ON CONFLICT DO
-- UPDATE; the BEFORE INSERT trigger finds no phone on the proposed row (no audit), the BEFORE UPDATE
-- trigger then sees the stored phone and links: this delivery is healed by the receipt
set role service_role;
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a1', '30000000-0000-4000-8000-0000000000a2',
    p_sms_status => 'delivered', p_sms_provider_id => 'SM0000000000000000000000000000a1a2'
);
commit;
set role platform_owner;

-- a delivery receipt for Fay's, as a plain update: the trigger runs again (no_match again)
update public.message_deliveries
set sms_status = 'delivered', sms_provider_id = 'SM0000000000000000000000000000a1a5'
where message_id = '40000000-0000-4000-8000-0000000000a1' and guest_id = '30000000-0000-4000-8000-0000000000a5';
commit;

-- the first send to Ivy is retried with her phone: the BEFORE INSERT trigger audits the proposed row
-- (no_match, an id no delivery has), then ON CONFLICT updates the stored row and the trigger audits it
-- again (no_match, the stored id)
set role service_role;
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a1', '30000000-0000-4000-8000-0000000000a8', '+15550000108'
);
commit;
set role platform_owner;

-- ---------------------------------------------------------------------------------------------------
-- 4. Dev changes his phone to the one he was invited with (no trigger links his guest row on update)

update public.users set phone = '+15550000104', updated_at = now() where id = '10000000-0000-4000-8000-000000000006';
commit;

insert into public.messages (id, event_id, sender_user_id, content, message_type) values
    ('40000000-0000-4000-8000-0000000000a2', '20000000-0000-4000-8000-00000000000a',
     '10000000-0000-4000-8000-000000000001', 'Venue: the old mill, 4 pm', 'announcement');
commit;
set role service_role;
select pg_temp.send_message('40000000-0000-4000-8000-0000000000a2');
commit;
set role platform_owner;

-- ---------------------------------------------------------------------------------------------------
-- 5. Kim is removed and invited again (a new row, same phone); Cleo is removed

update public.event_guests set removed_at = now() where id = '30000000-0000-4000-8000-0000000000a7';
insert into public.event_guests (id, event_id, guest_name, phone, invited_at) values
    ('30000000-0000-4000-8000-0000000000a9', '20000000-0000-4000-8000-00000000000a', 'Kim', '+15550000109', now());
update public.event_guests set removed_at = now() where id = '30000000-0000-4000-8000-0000000000a3';
commit;

insert into public.messages (id, event_id, sender_user_id, content, message_type) values
    ('40000000-0000-4000-8000-0000000000a3', '20000000-0000-4000-8000-00000000000a',
     '10000000-0000-4000-8000-000000000001', 'Shuttles leave at 3:30', 'announcement');
commit;

set role service_role;
-- an empty phone and an unusable one: normalize_phone gives NULL, the trigger neither links nor audits
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a3', '30000000-0000-4000-8000-0000000000a6', ''
);
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a3', '30000000-0000-4000-8000-0000000000a8', '555-01'
);
select pg_temp.send_message('40000000-0000-4000-8000-0000000000a3');
-- the host's own copy, without a guest: no event for the trigger, no audit
insert into public.message_deliveries (message_id, guest_id, phone_number)
values ('40000000-0000-4000-8000-0000000000a3', null, '+15550000001');
commit;
set role platform_owner;

-- ---------------------------------------------------------------------------------------------------
-- 6. linking switched off for a while, the documented way (get_feature_flag edited to answer false)

create or replace function public.get_feature_flag(flag_name text) returns boolean
language plpgsql
stable
set search_path = public
as $$
begin
    return false;
end;
$$;
commit;

insert into public.messages (id, event_id, sender_user_id, content, message_type) values
    ('40000000-0000-4000-8000-0000000000a4', '20000000-0000-4000-8000-00000000000a',
     '10000000-0000-4000-8000-000000000001', 'Dress code: garden formal', 'direct');
commit;
set role service_role;
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a4', '30000000-0000-4000-8000-0000000000a1', '+15550000101'
);
select public.upsert_message_delivery(
    '40000000-0000-4000-8000-0000000000a4', '30000000-0000-4000-8000-0000000000a5', '+15550000106'
);
commit;
set role platform_owner;

create or replace function public.get_feature_flag(flag_name text) returns boolean
language plpgsql
stable
set search_path = public
as $$
begin
    case flag_name
        when 'LINK_USER_BY_PHONE' then return true;
        else return false;
    end case;
end;
$$;
commit;

-- ---------------------------------------------------------------------------------------------------
-- 7. the operator's dry run, as the app's docs tell them to start (audits, changes nothing)

select processed_count, linked_count from public.backfill_user_links('message_deliveries', 100, true);
commit;

-- ---------------------------------------------------------------------------------------------------
-- 8. 'ambiguous': Jon's partner on Jon's phone while the one-active-guest-per-phone index was absent

drop index public.event_guests_event_id_phone_active_key;
insert into public.event_guests (id, event_id, guest_name, phone, invited_at) values
    ('30000000-0000-4000-8000-0000000000b4', '20000000-0000-4000-8000-00000000000b', 'Jon''s partner',
     '+15550000108', now());
insert into public.messages (id, event_id, sender_user_id, content, message_type) values
    ('40000000-0000-4000-8000-0000000000b2', '20000000-0000-4000-8000-00000000000b',
     '10000000-0000-4000-8000-000000000002', 'Party moved to 8 pm', 'announcement');
commit;
set role service_role;
select pg_temp.send_message('40000000-0000-4000-8000-0000000000b2');
commit;
set role platform_owner;
update public.event_guests set removed_at = now() where id = '30000000-0000-4000-8000-0000000000b4';
create unique index event_guests_event_id_phone_active_key on public.event_guests (event_id, phone)
    where phone is not null and removed_at is null;
commit;

-- ---------------------------------------------------------------------------------------------------
-- 9. time passes for the old event; the weekly retention run (180 days) purges its audit and logs it

update public.user_link_audit set created_at = created_at - interval '200 days'
where event_id = '20000000-0000-4000-8000-00000000000c';
commit;

select public.run_user_link_audit_purge(180);
commit;
