-- The benchmark's "minimal trigger" reference: the least a trigger can do to link a delivery at insert.
--
-- One SECURITY DEFINER BEFORE INSERT row trigger on message_deliveries that copies the user of the
-- delivery's guest when that guest is active (removed_at is null): one primary-key lookup in
-- event_guests per row, nothing else — no audit, no lock, no feature flag, no phone rules, no guest-link
-- backfill. Empty search_path and schema-qualified names, as any SECURITY DEFINER function must have.
-- An app-set user_id is kept. It sets user_id, so the foreign-key check on user_id runs, as it does
-- for every design that links at insert.
-- Installed by `linkage bench` on its own copy of the data. Not for production: it is the yardstick
-- for "everything beyond the unavoidable lookup" (issue 9's announcement-send target).

create function public.bench_minimal_link_delivery_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $function$
begin
    if new.user_id is null and new.guest_id is not null then
        -- no row (unknown or removed guest): SELECT INTO sets user_id to NULL, which it already is
        select guest.user_id into new.user_id
        from public.event_guests as guest
        where guest.id = new.guest_id and guest.removed_at is null;
    end if;
    return new;
end
$function$;

create trigger bench_minimal_link_delivery_user
    before insert on public.message_deliveries
    for each row execute function public.bench_minimal_link_delivery_user();

revoke all on function public.bench_minimal_link_delivery_user() from public;
