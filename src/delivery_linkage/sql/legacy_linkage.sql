-- The older version of the linkage, as the runbook describes it, for upgrade-in-place tests:
-- an enum-typed audit outcome with history in it, a get_feature_flag that hard-codes its answers,
-- link_user_by_phone returning a bare uuid, row-level triggers on insert or update.

create type public.link_outcome as enum ('linked', 'no_match', 'skipped');

create table public.user_link_audit (
    id uuid primary key default gen_random_uuid(),
    table_name text not null,
    record_id uuid,
    event_id uuid,
    normalized_phone text,
    linked_user_id uuid,
    outcome public.link_outcome not null,
    created_at timestamptz not null default now()
);

create table public.feature_flags (flag_name text primary key, enabled boolean not null);
insert into public.feature_flags values ('LINK_USER_BY_PHONE', true), ('LINK_USER_BY_PHONE_FALLBACK_TO_USERS', false);

create function public.get_feature_flag(flag text) returns boolean language sql as $$
    select case flag when 'LINK_USER_BY_PHONE' then true else false end
$$;

create function public.link_user_by_phone(p_event_id uuid, p_phone text) returns uuid language sql as $$
    select g.user_id from public.event_guests g
    where g.event_id = p_event_id and g.phone = p_phone and g.removed_at is null and g.user_id is not null
    limit 1
$$;

create function public.auto_link_user_by_phone_trigger() returns trigger language plpgsql as $$
begin
    if new.user_id is null then
        select g.user_id into new.user_id from public.event_guests g where g.id = new.guest_id;
        if new.user_id is null then
            new.user_id := public.link_user_by_phone(
                (select m.event_id from public.messages m where m.id = new.message_id), new.phone_number);
        end if;
        insert into public.user_link_audit (table_name, record_id, linked_user_id, outcome)
        values ('message_deliveries', new.id, new.user_id,
                case when new.user_id is null then 'no_match'::public.link_outcome else 'linked' end);
    end if;
    return new;
end
$$;
create trigger trigger_message_deliveries_auto_link_user
    before insert or update on public.message_deliveries
    for each row execute function public.auto_link_user_by_phone_trigger();

create function public.backfill_guest_deliveries(p_guest_id uuid, p_user_id uuid) returns void language plpgsql as $$
begin
    update public.message_deliveries set user_id = p_user_id where guest_id = p_guest_id and user_id is null;
    insert into public.user_link_audit (table_name, record_id, linked_user_id, outcome)
    values ('message_deliveries_backfill', p_guest_id, p_user_id, 'linked');
end
$$;

create function public.trigger_backfill_guest_deliveries() returns trigger language plpgsql as $$
begin
    perform public.backfill_guest_deliveries(new.id, new.user_id);
    return new;
end
$$;
create trigger trigger_backfill_deliveries_on_guest_link
    after update of user_id on public.event_guests
    for each row when (old.user_id is null and new.user_id is not null)
    execute function public.trigger_backfill_guest_deliveries();
