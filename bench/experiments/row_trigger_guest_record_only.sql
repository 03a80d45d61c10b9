-- The project's row trigger with three of its rules taken out, each replaced by the constant that
-- holds on the benchmark's sends: the kill switch and the users fallback (the feature_flags read),
-- never across events (the message's event), never waiting on a user being deleted (the user's
-- FOR KEY SHARE SKIP LOCKED). What is left links by the guest's record as the minimal trigger does,
-- in the project's function. Not a design to ship. Fails loudly when the function no longer holds the
-- text it replaces.
do $experiment$
declare
    v_definition text := pg_catalog.pg_get_functiondef('public.auto_link_user_by_phone_trigger'::regproc);
    v_parts text[] := array[
        $p$and (guest.event_id = coalesce((select message.event_id from public.messages as message where message.id = new.message_id), guest.event_id))$p$,
        $p$and exists (select from public.users as app_user where app_user.id = guest.user_id for key share skip locked)$p$,
        $p$from (
        select
            coalesce(pg_catalog.bool_and(flag.enabled) filter (where flag.flag_name = 'LINK_USER_BY_PHONE'), false) as linking,
            coalesce(pg_catalog.bool_and(flag.enabled) filter (where flag.flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'), false) as fallback_to_users
        from delivery_linkage.feature_flags as flag
    ) as flags$p$
    ];
    v_part text;
begin
    foreach v_part in array v_parts loop
        if pg_catalog.strpos(v_definition, v_part) = 0 then
            raise exception 'row_trigger_guest_record_only: the row trigger no longer holds: %', v_part;
        end if;
    end loop;
    v_definition := pg_catalog.replace(v_definition, v_parts[1], '');
    v_definition := pg_catalog.replace(v_definition, v_parts[2], '');
    v_definition := pg_catalog.replace(v_definition, v_parts[3], 'from (select true as linking, false as fallback_to_users) as flags');
    execute v_definition;
end
$experiment$;
