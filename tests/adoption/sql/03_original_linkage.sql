-- The original linkage, as the app's migrations leave it (run under SET ROLE platform_owner).
--
-- Migration 20250129000000_auto_link_user_by_phone defines it; later ones change it:
--   * 20250120000000_fix_function_search_path_security (applied to production after it, whatever its
--     date says): get_feature_flag(text) and normalize_phone(text) get SET search_path = 'public';
--   * 20251014173731_add_fk_indexes: two indexes on user_link_audit;
--   * 20251014174425_optimize_function_volatility_phase1: link_user_by_phone becomes STABLE;
--   * 20251002120100_wave2_01_audit_retention: purge_user_link_audit, run_user_link_audit_purge and the
--     PII-free log table user_link_audit_purge_runs (without row-level security: the 2025-09-30
--     inventory shows it so, and recommends enabling it).
-- The production inventory of SECURITY DEFINER functions (2025-08-21) confirms search_path '' on
-- link_user_by_phone, auto_link_user_by_phone_trigger, backfill_user_links and rollback_user_links.
--
-- One deliberate difference from the migration text: inside link_user_by_phone the enum is written
-- public.user_link_outcome_enum. As written (unqualified, under search_path ''), PostgreSQL refuses to
-- create the function ("type user_link_outcome_enum does not exist", check_function_bodies on) or, with
-- the check off, fails every call, so every delivery insert with a guest and a valid phone would fail.
-- Production wrote 1067 audit rows through it (2025-09-30 inventory), so its body must qualify the type.

create type public.user_link_outcome_enum as enum ('linked', 'no_match', 'ambiguous', 'skipped');

-- the feature flag is hard-coded: turning linking off means replacing this function
create function public.get_feature_flag(flag_name text) returns boolean
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

create function public.normalize_phone(phone_input text) returns text
language plpgsql
immutable
set search_path = public
as $$
begin
    if phone_input is null or phone_input = '' then
        return null;
    end if;

    phone_input := regexp_replace(phone_input, '[^\+0-9]', '', 'g');

    if not phone_input ~ '^\+' then
        if length(phone_input) = 10 then
            phone_input := '+1' || phone_input;
        elsif length(phone_input) = 11 and phone_input ~ '^1' then
            phone_input := '+' || phone_input;
        end if;
    end if;

    if phone_input ~ '^\+[1-9]\d{1,14}$' then
        return phone_input;
    else
        return null;
    end if;
end;
$$;

-- ---------------------------------------------------------------------------------------------------
-- the audit table

create table public.user_link_audit (
    id uuid default gen_random_uuid() primary key,
    table_name text not null,
    record_id uuid not null,
    event_id uuid not null,
    normalized_phone text not null,
    matched_guest_id uuid,
    linked_user_id uuid,
    outcome public.user_link_outcome_enum not null,
    created_at timestamptz default now(),
    foreign key (event_id) references public.events (id) on delete cascade,
    foreign key (matched_guest_id) references public.event_guests (id) on delete set null,
    foreign key (linked_user_id) references public.users (id) on delete set null
);
create index idx_user_link_audit_table_outcome on public.user_link_audit (table_name, outcome);
create index idx_user_link_audit_event_phone on public.user_link_audit (event_id, normalized_phone);
create index idx_user_link_audit_created_at on public.user_link_audit (created_at);
create index idx_user_link_audit__linked_user_id on public.user_link_audit (linked_user_id);
create index idx_user_link_audit__matched_guest_id on public.user_link_audit (matched_guest_id);

alter table public.user_link_audit enable row level security;

-- only hosts see the audit of their events
create policy user_link_audit_host_access on public.user_link_audit
    for select using (public.is_event_host(event_id));

-- ---------------------------------------------------------------------------------------------------
-- the central function: one active guest with this phone in the event, then its user, else the only
-- user with this phone (the fallback to users is always on)

create function public.link_user_by_phone(p_event_id uuid, p_normalized_phone text)
returns table (user_id uuid, guest_id uuid, outcome public.user_link_outcome_enum)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_guest_record record;
    v_guest_count integer;
    v_user_count integer;
    v_result_user_id uuid;
    v_result_guest_id uuid;
    v_result_outcome public.user_link_outcome_enum;
begin
    if not public.get_feature_flag('LINK_USER_BY_PHONE') then
        return query select null::uuid, null::uuid, 'skipped'::public.user_link_outcome_enum;
        return;
    end if;

    if p_event_id is null or p_normalized_phone is null then
        return query select null::uuid, null::uuid, 'no_match'::public.user_link_outcome_enum;
        return;
    end if;

    select count(*) into v_guest_count
    from public.event_guests
    where event_id = p_event_id
      and phone = p_normalized_phone
      and removed_at is null;

    if v_guest_count = 0 then
        return query select null::uuid, null::uuid, 'no_match'::public.user_link_outcome_enum;
        return;
    elsif v_guest_count > 1 then
        return query select null::uuid, null::uuid, 'ambiguous'::public.user_link_outcome_enum;
        return;
    end if;

    select * into v_guest_record
    from public.event_guests
    where event_id = p_event_id
      and phone = p_normalized_phone
      and removed_at is null;

    v_result_guest_id := v_guest_record.id;

    if v_guest_record.user_id is not null then
        v_result_user_id := v_guest_record.user_id;
        v_result_outcome := 'linked'::public.user_link_outcome_enum;
    else
        select count(*) into v_user_count
        from public.users
        where phone = p_normalized_phone;

        if v_user_count = 1 then
            select id into v_result_user_id
            from public.users
            where phone = p_normalized_phone;
            v_result_outcome := 'linked'::public.user_link_outcome_enum;
        elsif v_user_count = 0 then
            v_result_outcome := 'no_match'::public.user_link_outcome_enum;
        else
            v_result_outcome := 'ambiguous'::public.user_link_outcome_enum;
        end if;
    end if;

    return query select v_result_user_id, v_result_guest_id, v_result_outcome;
end;
$$;

-- ---------------------------------------------------------------------------------------------------
-- the trigger: on every insert and update of a delivery without a user. No guest (so no event) or no
-- usable phone: nothing happens and nothing is audited. Otherwise one audit row per call.

create function public.auto_link_user_by_phone_trigger() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_event_id uuid;
    v_normalized_phone text;
    v_link_result record;
    v_table_name text;
    v_record_id uuid;
begin
    v_table_name := tg_table_name;

    if new.user_id is not null then
        return new;
    end if;

    case v_table_name
        when 'message_deliveries' then
            if new.guest_id is not null then
                select eg.event_id into v_event_id
                from public.event_guests eg
                where eg.id = new.guest_id;
            end if;
            v_normalized_phone := public.normalize_phone(new.phone_number);
            v_record_id := new.id;
        else
            return new;
    end case;

    if v_event_id is null or v_normalized_phone is null then
        return new;
    end if;

    select * into v_link_result
    from public.link_user_by_phone(v_event_id, v_normalized_phone);

    if v_link_result.user_id is not null then
        new.user_id := v_link_result.user_id;
    end if;

    insert into public.user_link_audit (
        table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id, outcome
    ) values (
        v_table_name, v_record_id, v_event_id, v_normalized_phone,
        v_link_result.guest_id, v_link_result.user_id, v_link_result.outcome
    );

    return new;
end;
$$;

create trigger trigger_message_deliveries_auto_link_user
    before insert or update on public.message_deliveries
    for each row execute function public.auto_link_user_by_phone_trigger();

-- ---------------------------------------------------------------------------------------------------
-- the operator's tools: batch backfill (dry run by default, audits even in dry runs) and rollback

create function public.backfill_user_links(
    p_table_name text default 'message_deliveries',
    p_batch_size integer default 100,
    p_dry_run boolean default true
)
returns table (
    processed_count integer,
    linked_count integer,
    no_match_count integer,
    ambiguous_count integer,
    skipped_count integer,
    sample_results jsonb
)
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_processed_count integer := 0;
    v_linked_count integer := 0;
    v_no_match_count integer := 0;
    v_ambiguous_count integer := 0;
    v_skipped_count integer := 0;
    v_sample_results jsonb := '[]'::jsonb;
    v_record record;
    v_link_result record;
    v_event_id uuid;
    v_normalized_phone text;
    v_sample_count integer := 0;
begin
    if p_table_name != 'message_deliveries' then
        raise exception 'Unsupported table: %', p_table_name;
    end if;

    for v_record in
        select md.id, md.phone_number, md.user_id, md.guest_id, eg.event_id
        from public.message_deliveries md
        left join public.event_guests eg on md.guest_id = eg.id
        where md.user_id is null
          and md.phone_number is not null
          and eg.event_id is not null
        limit p_batch_size
    loop
        v_processed_count := v_processed_count + 1;
        v_event_id := v_record.event_id;
        v_normalized_phone := public.normalize_phone(v_record.phone_number);

        if v_normalized_phone is null then
            v_skipped_count := v_skipped_count + 1;
            continue;
        end if;

        select * into v_link_result
        from public.link_user_by_phone(v_event_id, v_normalized_phone);

        case v_link_result.outcome
            when 'linked' then
                v_linked_count := v_linked_count + 1;
                if not p_dry_run then
                    update public.message_deliveries
                    set user_id = v_link_result.user_id
                    where id = v_record.id;
                end if;
            when 'no_match' then v_no_match_count := v_no_match_count + 1;
            when 'ambiguous' then v_ambiguous_count := v_ambiguous_count + 1;
            when 'skipped' then v_skipped_count := v_skipped_count + 1;
        end case;

        insert into public.user_link_audit (
            table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id, outcome
        ) values (
            p_table_name, v_record.id, v_event_id, v_normalized_phone,
            v_link_result.guest_id, v_link_result.user_id, v_link_result.outcome
        );

        if v_sample_count < 5 then
            v_sample_results := v_sample_results || jsonb_build_object(
                'record_id', v_record.id,
                'phone', v_normalized_phone,
                'outcome', v_link_result.outcome,
                'linked_user_id', v_link_result.user_id
            );
            v_sample_count := v_sample_count + 1;
        end if;
    end loop;

    return query select
        v_processed_count, v_linked_count, v_no_match_count, v_ambiguous_count, v_skipped_count,
        v_sample_results;
end;
$$;

create function public.rollback_user_links(
    p_since_timestamp timestamptz,
    p_table_name text default 'message_deliveries',
    p_dry_run boolean default true
)
returns table (rolled_back_count integer, sample_records jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_rolled_back_count integer := 0;
    v_sample_records jsonb := '[]'::jsonb;
    v_audit_record record;
    v_sample_count integer := 0;
begin
    if p_table_name != 'message_deliveries' then
        raise exception 'Unsupported table: %', p_table_name;
    end if;

    for v_audit_record in
        select record_id, linked_user_id
        from public.user_link_audit
        where table_name = p_table_name
          and outcome = 'linked'
          and created_at >= p_since_timestamp
          and linked_user_id is not null
    loop
        v_rolled_back_count := v_rolled_back_count + 1;

        if not p_dry_run then
            update public.message_deliveries
            set user_id = null
            where id = v_audit_record.record_id
              and user_id = v_audit_record.linked_user_id;
        end if;

        if v_sample_count < 5 then
            v_sample_records := v_sample_records || jsonb_build_object(
                'record_id', v_audit_record.record_id,
                'user_id_to_clear', v_audit_record.linked_user_id
            );
            v_sample_count := v_sample_count + 1;
        end if;
    end loop;

    return query select v_rolled_back_count, v_sample_records;
end;
$$;

-- ---------------------------------------------------------------------------------------------------
-- retention (180 days by default; run by hand weekly, pg_cron not being installed)

create function public.purge_user_link_audit(retain_days integer default 180) returns integer
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_deleted integer := 0;
    v_cutoff_date timestamptz;
begin
    v_cutoff_date := now() - make_interval(days => retain_days);

    delete from public.user_link_audit
    where created_at < v_cutoff_date;

    get diagnostics v_deleted = row_count;

    raise notice 'Purged % rows from user_link_audit older than % days (cutoff: %)',
        v_deleted, retain_days, v_cutoff_date;

    return v_deleted;
end;
$$;

create table if not exists public.user_link_audit_purge_runs (
    id bigint generated always as identity primary key,
    ran_at timestamptz not null default now(),
    retain_days integer not null,
    rows_deleted integer not null,
    cutoff_date timestamptz not null
);

create function public.run_user_link_audit_purge(retain_days integer default 180) returns void
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_count integer;
    v_cutoff timestamptz;
begin
    v_cutoff := now() - make_interval(days => retain_days);
    v_count := public.purge_user_link_audit(retain_days);

    insert into public.user_link_audit_purge_runs (retain_days, rows_deleted, cutoff_date)
    values (retain_days, v_count, v_cutoff);
end;
$$;
