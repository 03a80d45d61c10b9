-- The app database the linkage deploys onto, as the app has it: the contract's tables with extra
-- columns, the app's own updated_at trigger, row-level security on deliveries, hosted-platform roles
-- with default privileges that grant everything to them, and an upsert_message_delivery RPC.
-- Used by the tests and the demo; the linkage itself never creates these tables.

do $roles$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
end
$roles$;

-- hosted-platform style: everything new in public is granted to the API roles
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

create table public.users (
    id uuid primary key default gen_random_uuid(),
    phone text,
    email text unique,
    display_name text,
    created_at timestamptz not null default now()
);

create table public.events (
    id uuid primary key default gen_random_uuid(),
    title text not null default 'Event',
    starts_at timestamptz,
    created_at timestamptz not null default now()
);

create table public.event_guests (
    id uuid primary key default gen_random_uuid(),
    event_id uuid not null references public.events (id) on delete cascade,
    user_id uuid references public.users (id),
    phone text,
    guest_name text,
    rsvp_status text not null default 'pending',
    removed_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index event_guests_event_id_idx on public.event_guests (event_id);
create index event_guests_user_id_idx on public.event_guests (user_id);

create table public.messages (
    id uuid primary key default gen_random_uuid(),
    event_id uuid references public.events (id) on delete cascade,
    body text not null default '',
    message_type text not null default 'announcement',
    created_at timestamptz not null default now()
);
create index messages_event_id_idx on public.messages (event_id);

create table public.message_deliveries (
    id uuid primary key default gen_random_uuid(),
    message_id uuid references public.messages (id) on delete cascade,
    guest_id uuid,
    phone_number varchar,
    user_id uuid references public.users (id),
    sms_status text not null default 'pending',
    push_status text not null default 'not_applicable',
    provider_sid text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint message_deliveries_message_guest_unique unique (message_id, guest_id)
);
create index message_deliveries_guest_id_idx on public.message_deliveries (guest_id);
create index message_deliveries_user_id_idx on public.message_deliveries (user_id);

-- the app's own updated_at trigger
create function public.set_updated_at() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;
create trigger event_guests_set_updated_at before update on public.event_guests
    for each row execute function public.set_updated_at();
create trigger message_deliveries_set_updated_at before update on public.message_deliveries
    for each row execute function public.set_updated_at();

-- a guest reads their own deliveries: RLS on user_id (auth.uid() in the hosted platform; a setting here)
create function public.current_app_user_id() returns uuid language sql stable as $$
    select nullif(current_setting('app.user_id', true), '')::uuid
$$;
alter table public.message_deliveries enable row level security;
create policy message_deliveries_select_own on public.message_deliveries
    for select to authenticated using (user_id = public.current_app_user_id());
create policy message_deliveries_service_all on public.message_deliveries
    for all to service_role using (true) with check (true);
create policy message_deliveries_insert_authenticated on public.message_deliveries
    for insert to authenticated with check (true);
alter table public.users enable row level security;
create policy users_select_self on public.users for select to authenticated using (id = public.current_app_user_id());
alter table public.event_guests enable row level security;
create policy event_guests_select_self on public.event_guests for select to authenticated
    using (user_id = public.current_app_user_id());

-- the app's RPC: upsert a delivery for a guest of a message
create function public.upsert_message_delivery(
    p_message_id uuid, p_guest_id uuid, p_phone_number text, p_sms_status text default 'pending'
) returns uuid language plpgsql as $$
declare
    v_id uuid;
begin
    insert into public.message_deliveries (message_id, guest_id, phone_number, sms_status)
    values (p_message_id, p_guest_id, p_phone_number, p_sms_status)
    on conflict (message_id, guest_id) do update
        set phone_number = excluded.phone_number,
            sms_status = excluded.sms_status,
            user_id = excluded.user_id
    returning id into v_id;
    return v_id;
end
$$;
