-- The app's schema, as owned by platform_owner (the builder runs this file under SET ROLE platform_owner).
--
-- Written for this project from what the app's repository shows; none of its files is copied. The
-- app's migration history cannot be replayed in order (a 2025-06 "remote_schema" dump drops and
-- recreates the core tables, and several migrations alter functions created by later-dated ones), so
-- the final shape is taken from, in order of trust:
--   1. the migrations dated after the 2025-09-30 production inventories (they apply to that state):
--      20251002000000 (event_guests.rsvp_status dropped), 20251002120100 (audit retention),
--      20251014173731 (FK indexes), 20251014174425 (helpers made STABLE), 20251015212455
--      (events.start_time), 20251018000000 (event_guests policies), 20260123000000 (sms_provider_id index);
--   2. the production inventories: _artifacts/db_audit_20250930/inventory_{columns,constraints,indexes,
--      triggers}.csv and rls_policies.csv, audit/db_inventory_20251001/{policies,foreign_keys}.csv, and
--      the generated types of 2025-10-15 (types/supabase.ts);
--   3. the migrations defining each object (column types, defaults, ON DELETE actions, function bodies):
--      20250118000000 (event_guests, scheduled_messages, message_deliveries), 20250130000000_enforce_
--      message_deliveries_message_id (deferrable FK, NOT NULL), 20250616044000 (events, messages),
--      20250823140817 (email columns dropped; latest upsert_message_delivery), 20250130000030_secure_
--      search_path_functions (is_event_host, is_event_guest, can_access_event);
--   4. definitions found only in the app's docs: the delivery policy helpers (docs/_archive/.../20250924/
--      rls_after.sql, docs/_archive/rls_historical/rls_opt_20250115.md) and assign_user_id_from_phone
--      (docs/database/user-id-auto-population.md, present in the trigger inventory).
-- Only what bears on the linkage is reproduced: the five tables it touches and their FK targets, their
-- constraints, indexes, triggers, RLS and policies. Left out: media, event_schedule_items, rum_events,
-- the app's other RPCs, and the triggers whose definitions the repository does not hold
-- (normalize_phone_trigger / normalize_guest_phone_trigger, sync_guest_display_name*, validate_tag_format,
-- trigger_auto_link_guest_invitations, trigger_backfill_deliveries_on_guest_link: see README.md).

create type public.message_type_enum as enum ('direct', 'announcement', 'channel');

-- ---------------------------------------------------------------------------------------------------
-- tables

create table public.users (
    id uuid not null default auth.uid(),
    phone text not null,
    full_name text,
    avatar_url text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    onboarding_completed boolean not null default false,
    intended_redirect text,
    sms_consent_given_at timestamptz,
    sms_consent_ip_address text,
    sms_consent_user_agent text,
    constraint users_pkey primary key (id),
    constraint users_phone_key unique (phone)
);

create table public.events (
    id uuid not null default gen_random_uuid(),
    title text not null,
    event_date date not null,
    location text,
    description text,
    host_user_id uuid not null,
    header_image_url text,
    is_public boolean default false,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    allow_open_signup boolean not null default true,
    website_url text,
    time_zone text,
    photo_album_url text,
    creation_key uuid,
    sms_tag text,
    start_time timestamptz,
    constraint events_pkey primary key (id),
    constraint events_host_user_id_fkey foreign key (host_user_id) references public.users (id) on delete cascade,
    constraint check_time_zone_format check (
        time_zone is null or (time_zone ~ '^[A-Za-z_]+/[A-Za-z_]+$' and length(time_zone) between 3 and 50)
    ),
    constraint events_time_zone_format_check check (
        time_zone is null or (time_zone ~ '^[A-Za-z_]+/[A-Za-z_]+$' and length(time_zone) >= 3 and length(time_zone) <= 50)
    ),
    constraint events_sms_tag_20_char check (sms_tag is null or char_length(sms_tag) between 1 and 20)
);
create index idx_events_host on public.events (host_user_id);
create unique index idx_events_creation_key_unique on public.events (creation_key) where creation_key is not null;
create index idx_events_start_time on public.events (start_time);

-- only as the target of the deliveries' and messages' foreign keys (a subset of its columns)
create table public.scheduled_messages (
    id uuid not null default gen_random_uuid(),
    event_id uuid not null,
    sender_user_id uuid not null,
    subject varchar(500),
    content text not null,
    message_type public.message_type_enum default 'announcement',
    send_at timestamptz not null,
    target_all_guests boolean default false,
    target_guest_ids uuid[],
    target_guest_tags text[],
    send_via_sms boolean default true,
    send_via_push boolean default true,
    status varchar(20) default 'scheduled',
    sent_at timestamptz,
    recipient_count integer default 0,
    success_count integer default 0,
    failure_count integer default 0,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    constraint scheduled_messages_pkey primary key (id),
    constraint scheduled_messages_event_id_fkey foreign key (event_id) references public.events (id) on delete cascade,
    constraint scheduled_messages_sender_user_id_fkey
        foreign key (sender_user_id) references public.users (id) on delete cascade,
    constraint scheduled_messages_status_check
        check (status::text = any (array['scheduled', 'sending', 'sent', 'failed', 'cancelled']))
);
create index idx_scheduled_messages_event_id on public.scheduled_messages (event_id);
create index idx_scheduled_messages__sender_user_id on public.scheduled_messages (sender_user_id);

create table public.messages (
    id uuid not null default gen_random_uuid(),
    event_id uuid not null,
    sender_user_id uuid,
    content text not null,
    message_type public.message_type_enum default 'direct',
    created_at timestamptz default now(),
    delivered_count integer default 0,
    failed_count integer default 0,
    delivered_at timestamptz,
    scheduled_message_id uuid,
    constraint messages_pkey primary key (id),
    constraint messages_event_id_fkey foreign key (event_id) references public.events (id) on delete cascade,
    constraint messages_sender_user_id_fkey foreign key (sender_user_id) references public.users (id) on delete set null,
    constraint messages_scheduled_message_id_fkey
        foreign key (scheduled_message_id) references public.scheduled_messages (id),
    constraint check_delivered_count_non_negative check (delivered_count >= 0),
    constraint check_failed_count_non_negative check (failed_count >= 0)
);
create index idx_messages_event on public.messages (event_id);
create index idx_messages_sender_user_id on public.messages (sender_user_id);
create index idx_messages_event_type_created on public.messages (event_id, message_type, created_at desc);
create index idx_messages_event_created_id on public.messages (event_id, created_at desc, id desc);
create index messages_event_created_id_desc_idx on public.messages (event_id, created_at desc, id desc);
create index idx_messages_scheduled_message_id on public.messages (scheduled_message_id)
    where scheduled_message_id is not null;
create index idx_messages_event_host_lookup on public.messages (event_id, sender_user_id, created_at desc);

create table public.event_guests (
    id uuid not null default gen_random_uuid(),
    event_id uuid not null,
    user_id uuid,
    guest_name text,
    phone text,
    notes text,
    guest_tags text[] default '{}'::text[],
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    role text not null default 'guest',
    invited_at timestamptz,
    phone_number_verified boolean default false,
    sms_opt_out boolean default false,
    preferred_communication varchar(20) default 'sms',
    display_name text,
    declined_at timestamptz,
    decline_reason text,
    last_invited_at timestamptz,
    invite_attempts integer default 0,
    joined_at timestamptz,
    removed_at timestamptz,
    last_messaged_at timestamptz,
    first_invited_at timestamptz,
    a2p_notice_sent_at timestamptz,
    carrier_opted_out_at timestamptz,
    constraint event_guests_pkey primary key (id),
    constraint event_guests_event_id_fkey foreign key (event_id) references public.events (id) on delete cascade,
    constraint event_guests_user_id_fkey foreign key (user_id) references public.users (id) on delete set null,
    constraint unique_event_guest_user unique (event_id, user_id),
    constraint event_guests_role_check check (role = any (array['host', 'guest', 'admin'])),
    constraint phone_format_e164_nullable check (phone is null or phone ~ '^\+[1-9]\d{1,14}$'),
    constraint check_guest_tags_limit check (array_length(guest_tags, 1) is null or array_length(guest_tags, 1) <= 10),
    constraint event_guests_preferred_communication_check
        check (preferred_communication::text = any (array['sms', 'push', 'none']))
);
create index idx_event_guests_event_id on public.event_guests (event_id);
create index idx_event_guests_user_id on public.event_guests (user_id);
-- one active guest per phone and event: with users_phone_key, the reason the original linkage can
-- never answer 'ambiguous' on this schema
create unique index event_guests_event_id_phone_active_key on public.event_guests (event_id, phone)
    where phone is not null and removed_at is null;
create index idx_event_guests_event_user_lookup on public.event_guests (event_id, user_id)
    where user_id is not null and removed_at is null;
create index idx_event_guests_phone_messaging on public.event_guests (phone)
    where phone is not null and removed_at is null and sms_opt_out = false;
create index idx_event_guests_event_phone on public.event_guests (event_id, phone)
    where phone is not null and removed_at is null;
create index idx_event_guests_role on public.event_guests (role) where removed_at is null;
create index idx_event_guests_invited_at on public.event_guests (invited_at)
    where invited_at is not null and removed_at is null;
create index idx_event_guests_joined_at on public.event_guests (joined_at)
    where joined_at is not null and removed_at is null;
create index idx_event_guests_event_declined on public.event_guests (event_id, declined_at)
    where declined_at is not null and removed_at is null;
create index idx_event_guests_event_attending on public.event_guests (event_id)
    where declined_at is null and removed_at is null and role = 'guest';

create table public.message_deliveries (
    id uuid not null default gen_random_uuid(),
    scheduled_message_id uuid,
    message_id uuid not null,
    guest_id uuid,
    phone_number varchar(20),
    user_id uuid,
    sms_status varchar(20) default 'pending',
    push_status varchar(20) default 'pending',
    sms_provider_id varchar(255),
    push_provider_id varchar(255),
    has_responded boolean default false,
    response_message_id uuid,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    constraint message_deliveries_pkey primary key (id),
    constraint message_deliveries_scheduled_message_id_fkey
        foreign key (scheduled_message_id) references public.scheduled_messages (id) on delete cascade,
    constraint message_deliveries_message_id_fkey
        foreign key (message_id) references public.messages (id) on delete cascade deferrable initially deferred,
    constraint message_deliveries_guest_id_fkey
        foreign key (guest_id) references public.event_guests (id) on delete cascade,
    constraint message_deliveries_user_id_fkey foreign key (user_id) references public.users (id) on delete set null,
    constraint message_deliveries_response_message_id_fkey
        foreign key (response_message_id) references public.messages (id) on delete set null,
    constraint unique_message_guest_delivery unique (message_id, guest_id),
    constraint message_deliveries_sms_status_check
        check (sms_status::text = any (array['pending', 'sent', 'delivered', 'failed', 'undelivered'])),
    constraint message_deliveries_push_status_check
        check (push_status::text = any (array['pending', 'sent', 'delivered', 'failed', 'not_applicable']))
);
create index idx_message_deliveries_message_id on public.message_deliveries (message_id);
create index idx_message_deliveries_guest_id_backfill on public.message_deliveries (guest_id) where guest_id is not null;
create index idx_message_deliveries_user_id on public.message_deliveries (user_id) where user_id is not null;
create index idx_deliveries_message_guest on public.message_deliveries (message_id, guest_id) where guest_id is not null;
create index message_deliveries_message_created_id_desc_idx
    on public.message_deliveries (message_id, created_at desc, id desc);
create index message_deliveries_guest_created_id_desc_idx
    on public.message_deliveries (guest_id, created_at desc, id desc);
create index idx_md_user_event_created on public.message_deliveries (user_id, created_at desc, id desc)
    where user_id is not null;
create index message_deliveries_user_created_id_desc_idx on public.message_deliveries (user_id, created_at desc, id desc)
    where user_id is not null;
create index message_deliveries_user_message_created_id_desc_idx
    on public.message_deliveries (user_id, message_id, created_at desc, id desc) where user_id is not null;
create index idx_message_deliveries__response_message_id on public.message_deliveries (response_message_id);
create index idx_message_deliveries__scheduled_message_id on public.message_deliveries (scheduled_message_id);
create index message_deliveries_sms_provider_id_idx on public.message_deliveries (sms_provider_id);

-- ---------------------------------------------------------------------------------------------------
-- the app's own triggers

create function public.handle_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at = now();
    return new;
end;
$$;

create trigger event_guests_updated_at before update on public.event_guests
    for each row execute function public.handle_updated_at();
create trigger scheduled_messages_updated_at before update on public.scheduled_messages
    for each row execute function public.handle_updated_at();
create trigger message_deliveries_updated_at before update on public.message_deliveries
    for each row execute function public.handle_updated_at();

-- a guest inserted with the phone of an existing user is linked at once (AFTER INSERT, by an UPDATE of
-- the row just inserted); search_path 'public' from migration 20250120000000
create function public.assign_user_id_from_phone() returns trigger
language plpgsql
security definer
set search_path = public
as $$
declare
    matching_user_id uuid;
begin
    if new.user_id is null and new.phone is not null then
        select id into matching_user_id
        from public.users
        where phone = new.phone
        limit 1;

        if matching_user_id is not null then
            update public.event_guests
            set user_id = matching_user_id,
                updated_at = now()
            where id = new.id;

            new.user_id := matching_user_id;
            new.updated_at := now();
        end if;
    end if;

    return new;
end;
$$;

create trigger trg_assign_user_id_from_phone after insert on public.event_guests
    for each row execute function public.assign_user_id_from_phone();

-- migration 20250130000000_add_guest_user_auto_linking: a new user is linked to every unlinked guest
-- row with the same phone, in every event and whether removed or not (no later migration drops it)
create function public.link_guests_to_new_user() returns trigger
language plpgsql
security definer
as $$
declare
    linked_count integer;
begin
    update public.event_guests
    set user_id = new.id,
        updated_at = now()
    where phone = new.phone
      and user_id is null;

    get diagnostics linked_count = row_count;

    if linked_count > 0 then
        raise notice 'Auto-linked % guest records to new user % (phone: %)', linked_count, new.id, new.phone;
    end if;

    return new;
end;
$$;

create trigger link_guests_on_user_creation after insert on public.users
    for each row execute function public.link_guests_to_new_user();

-- ---------------------------------------------------------------------------------------------------
-- access helpers used by the policies (20250130000030 bodies, STABLE since 20251014174425)

create function public.is_event_host(p_event_id uuid) returns boolean
language plpgsql
stable
security definer
set search_path = public, pg_temp
as $$
declare
    current_user_id uuid;
begin
    current_user_id := (select auth.uid());

    if current_user_id is null then
        return false;
    end if;

    if exists (
        select 1 from public.events e
        where e.id = p_event_id
          and e.host_user_id = current_user_id
    ) then
        return true;
    end if;

    return exists (
        select 1 from public.event_guests eg
        where eg.event_id = p_event_id
          and eg.user_id = current_user_id
          and eg.role = 'host'
    );
end;
$$;

create function public.is_event_guest(p_event_id uuid) returns boolean
language plpgsql
stable
security definer
set search_path = public, pg_temp
as $$
begin
    if p_event_id is null then
        return false;
    end if;

    return exists (
        select 1
        from public.event_guests eg
        where eg.event_id = p_event_id
          and eg.user_id = (select auth.uid())
          and eg.removed_at is null
    );
end;
$$;

create function public.can_access_event(p_event_id uuid) returns boolean
language plpgsql
stable
security definer
set search_path = public, pg_temp
as $$
begin
    if p_event_id is null then
        return false;
    end if;

    return public.is_event_host(p_event_id) or public.is_event_guest(p_event_id);
end;
$$;

create function public.can_write_event(e uuid) returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$ select public.is_event_host(e); $$;

create function public.event_id_from_message(m_id uuid) returns uuid
language sql
stable
security definer
set search_path = public, pg_temp
as $$ select event_id from public.messages where id = m_id; $$;

create function public.event_id_from_scheduled_message(sm_id uuid) returns uuid
language sql
stable
security definer
set search_path = public, pg_temp
as $$ select event_id from public.scheduled_messages where id = sm_id; $$;

create function public.can_manage_message_delivery(m_id uuid default null, sm_id uuid default null) returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$
    select case
        when m_id is not null then public.can_write_event(public.event_id_from_message(m_id))
        when sm_id is not null then public.can_write_event(public.event_id_from_scheduled_message(sm_id))
        else false
    end;
$$;

create function public.resolve_event_from_message_v2(p_message_id uuid) returns uuid
language sql
stable
security definer
set search_path = public, pg_temp
as $$ select m.event_id from public.messages m where m.id = p_message_id $$;

-- a delivery with a user is visible to that user only; one without a user, to the event's host and to
-- every active linked guest of the event
create function public.can_access_delivery_v2(p_user_id uuid, p_guest_id uuid) returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$
    select case
        when p_user_id is not null then p_user_id = auth.uid()
        when p_guest_id is not null then public.can_access_event(
            (select eg.event_id from public.event_guests eg where eg.id = p_guest_id)
        )
        else false
    end
$$;

create function public.can_manage_deliveries_v2(p_message_id uuid) returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$ select public.can_access_event(public.resolve_event_from_message_v2(p_message_id)) $$;

-- ---------------------------------------------------------------------------------------------------
-- the RPC that writes deliveries (latest definition: migration 20250823140817)

create function public.upsert_message_delivery(
    p_message_id uuid,
    p_guest_id uuid,
    p_phone_number varchar default null,
    p_user_id uuid default null,
    p_sms_status varchar default 'pending',
    p_push_status varchar default 'pending',
    p_sms_provider_id varchar default null,
    p_push_provider_id varchar default null
)
returns uuid
language plpgsql
security definer
set search_path = public
as $$
declare
    delivery_id uuid;
begin
    if p_message_id is null or p_guest_id is null then
        raise exception 'message_id and guest_id are required';
    end if;

    insert into public.message_deliveries (
        message_id, guest_id, phone_number, user_id, sms_status, push_status,
        sms_provider_id, push_provider_id, created_at, updated_at
    )
    values (
        p_message_id, p_guest_id, p_phone_number, p_user_id, p_sms_status, p_push_status,
        p_sms_provider_id, p_push_provider_id, now(), now()
    )
    on conflict (message_id, guest_id)
    do update set
        sms_status = case
            when excluded.sms_status != 'pending' then excluded.sms_status
            else message_deliveries.sms_status
        end,
        push_status = case
            when excluded.push_status != 'pending' then excluded.push_status
            else message_deliveries.push_status
        end,
        sms_provider_id = coalesce(excluded.sms_provider_id, message_deliveries.sms_provider_id),
        push_provider_id = coalesce(excluded.push_provider_id, message_deliveries.push_provider_id),
        phone_number = coalesce(excluded.phone_number, message_deliveries.phone_number),
        user_id = coalesce(excluded.user_id, message_deliveries.user_id),
        updated_at = now()
    returning id into delivery_id;

    return delivery_id;
end;
$$;

-- ---------------------------------------------------------------------------------------------------
-- row-level security and the app's policies (inventory of 2025-10-01, event_guests select/update as
-- rewritten on 2025-10-18; `TO postgres` is `TO platform_owner` here)

alter table public.users enable row level security;
alter table public.events enable row level security;
alter table public.scheduled_messages enable row level security;
alter table public.messages enable row level security;
alter table public.event_guests enable row level security;
alter table public.message_deliveries enable row level security;

create policy allow_trigger_operations on public.users for all to platform_owner using (true) with check (true);
create policy users_insert_own on public.users for insert with check (id = (select auth.uid()));
create policy users_select_authenticated on public.users for select to authenticated using (true);
create policy users_update_authenticated on public.users for update to authenticated using (true) with check (true);

create policy events_select_read_access on public.events for select
    using (host_user_id = (select auth.uid()) or public.is_event_guest(id));
create policy events_unified_access on public.events for all
    using (host_user_id = (select auth.uid()) or (public.is_event_guest(id) and public.can_access_event(id)));
create policy "hosts can update events sms_tag" on public.events for update
    using (public.is_event_host(id)) with check (public.is_event_host(id));

create policy scheduled_messages_host_only_optimized on public.scheduled_messages for all
    using (public.can_write_event(event_id)) with check (public.can_write_event(event_id));

create policy messages_select_v2 on public.messages for select using (public.can_access_event(event_id));
create policy messages_select_backup on public.messages for select using (public.can_access_event(event_id));
create policy messages_insert_v2 on public.messages for insert to authenticated
    with check (public.is_event_host(event_id));
create policy messages_insert_backup on public.messages for insert to authenticated
    with check (public.is_event_host(event_id));
create policy messages_update_v2 on public.messages for update to authenticated
    using (public.is_event_host(event_id)) with check (public.is_event_host(event_id));
create policy messages_update_backup on public.messages for update to authenticated
    using (public.is_event_host(event_id)) with check (public.is_event_host(event_id));
create policy messages_delete_v2 on public.messages for delete to authenticated using (public.is_event_host(event_id));
create policy messages_delete_backup on public.messages for delete to authenticated
    using (public.is_event_host(event_id));

create policy event_guests_select_v2 on public.event_guests for select
    using ((public.is_event_host(event_id) or (user_id = auth.uid())) and removed_at is null);
create policy event_guests_insert_v2 on public.event_guests for insert
    with check (public.is_event_host(event_id) or (user_id = auth.uid()));
create policy event_guests_update_v2 on public.event_guests for update
    using ((public.is_event_host(event_id) or (user_id = auth.uid())) and removed_at is null)
    with check ((public.is_event_host(event_id) or (user_id = auth.uid())) and removed_at is null);
create policy event_guests_delete_v2 on public.event_guests for delete using (false);
create policy event_guests_host_backup on public.event_guests for all using (public.is_event_host(event_id));
create policy event_guests_self_backup on public.event_guests for all using (user_id = (select auth.uid()));
create policy event_guests_no_delete_backup on public.event_guests for delete using (false);

create policy message_deliveries_select_v2 on public.message_deliveries for select
    using (public.can_access_delivery_v2(user_id, guest_id));
create policy message_deliveries_select_backup on public.message_deliveries for select
    using (
        case
            when user_id is not null then user_id = (select auth.uid())
            when guest_id is not null then public.can_access_event(
                (select eg.event_id from public.event_guests eg where eg.id = message_deliveries.guest_id)
            )
            else false
        end
    );
create policy message_deliveries_insert_v2 on public.message_deliveries for insert
    with check (public.can_manage_deliveries_v2(message_id));
create policy message_deliveries_insert_backup on public.message_deliveries for insert
    with check (public.can_manage_message_delivery(message_id, scheduled_message_id));
create policy message_deliveries_update_v2 on public.message_deliveries for update
    using (public.can_manage_deliveries_v2(message_id)) with check (public.can_manage_deliveries_v2(message_id));
create policy message_deliveries_update_backup on public.message_deliveries for update
    using (public.can_manage_message_delivery(message_id, scheduled_message_id))
    with check (public.can_manage_message_delivery(message_id, scheduled_message_id));
