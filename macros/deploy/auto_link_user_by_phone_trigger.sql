{#
    auto_link_user_by_phone_trigger: the runbook's row-level BEFORE INSERT trigger function on
    message_deliveries (trigger_message_deliveries_auto_link_user). A row that arrives with a user_id
    is the app's: kept, and noted in app_linked_deliveries for the statement's audit (it is not an
    attempt). A row that arrives with none:

    One query per row, by keys only: the delivery gets its guest's user when the guest is active,
    linked, of the message's event, LINK_USER_BY_PHONE is on, and the user's row is not locked by a
    transaction deleting or re-keying it (copying such a user would make the app's insert wait on its
    foreign-key check, and fail if the deletion commits; the row is left NULL and the statement's
    audit queues its guest for the sweeper). The same query reads both flags, in one scan
    (linkage_flags), and keeps what the phone rules need of the guest, so a row whose guest is not
    linkable costs nothing more unless those rules apply: a delivery naming no guest (or an unknown
    one), or any unlinked delivery while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is on. Those rules
    (decide_delivery_links' rules 1 and 3-4) are written here again for one row: the message's event,
    then two index probes (at most two active guests of the event with the delivery's phone, at most
    two users with it), rather than a call of the set-based decide_delivery_links per row, a plan of
    some 40 nodes (tests/test_properties.py holds this path, the set-based rules and a plain model of
    them to the same answers). Nothing is written for the row: the statement trigger audits the whole
    INSERT from its transition table, deciding the phone rules' rows again set-based.
    Never raises on bad data.
#}
{% macro auto_link_user_by_phone_trigger(ctx) %}
    {%- set s = ctx.s -%}
    create or replace function {{ s }}.auto_link_user_by_phone_trigger()
    returns trigger
    {{ linkage_definer_attributes('plpgsql') }}
    as $function$
    declare
        v_guest_found boolean;
        v_phone_rules boolean;
        v_phone_may_link boolean;
        v_guest_event_id uuid;
        v_phone text;
        v_event_id uuid;
        v_guests integer;
        v_phone_guest_id uuid;
        v_phone_guest_user_id uuid;
        v_users integer;
        v_phone_user_id uuid;
    begin
        if new.user_id is not null then
            insert into {{ ctx.p }}.app_linked_deliveries (delivery_id) values (new.id);
            return new;
        end if;
        select
            case
                when flags.linking
                    and {{ linkage_guest_is_linkable('guest') }}
                    and {{ linkage_guest_of_event('guest', '(select message.event_id from ' ~ s ~ '.messages as message where message.id = new.message_id)') }}
                    and {{ linkage_user_is_free_to_link(s, 'guest.user_id') }}
                    then guest.user_id
            end,
            guest.id is not null,
            flags.fallback_to_users,
            flags.linking and not coalesce({{ linkage_guest_is_linkable('guest') }}, false),
            guest.event_id
        into new.user_id, v_guest_found, v_phone_rules, v_phone_may_link, v_guest_event_id
        from {{ linkage_flags(ctx) }} as flags
        left join {{ s }}.event_guests as guest on guest.id = new.guest_id;

        -- the phone rules: for a row no guest names (or an unknown one), or while the users fallback is
        -- on; never while linking is off, nor for a named guest that is linkable (its user's row was locked)
        if new.user_id is null and v_phone_may_link and (v_phone_rules or not v_guest_found) then
            -- rules 1 and 3: the delivery's event and phone; a phone that is not one ends here, as does a
            -- named guest of another event than the message's
            v_phone := {{ s }}.normalize_phone(new.phone_number::text);
            if v_phone is null then
                return new;
            end if;
            select message.event_id into v_event_id from {{ s }}.messages as message where message.id = new.message_id;
            if v_guest_event_id <> v_event_id then
                return new;  -- guest_other_event
            end if;
            v_event_id := coalesce(v_event_id, v_guest_event_id);
            if v_event_id is null then
                return new;
            end if;
            select pg_catalog.count(*), pg_catalog.min(candidate.id::text)::uuid, pg_catalog.min(candidate.user_id::text)::uuid
            into v_guests, v_phone_guest_id, v_phone_guest_user_id
            from (
                select guest.id, guest.user_id from {{ s }}.event_guests as guest
                where guest.event_id = v_event_id
                  and {{ s }}.normalize_phone(guest.phone) = v_phone
                  and {{ linkage_guest_is_active('guest') }}
                limit 2
            ) as candidate;
            if v_guests > 1 or (v_guests = 1 and v_phone_guest_id is distinct from coalesce(new.guest_id, v_phone_guest_id)) then
                return new;  -- ambiguous_guests, guest_mismatch
            end if;
            if v_guests = 1 and v_phone_guest_user_id is not null then
                -- guest_phone for a delivery naming no guest (a named one was linkable: its user was locked)
                if new.guest_id is null and {{ linkage_user_is_free_to_link(s, 'v_phone_guest_user_id') }} then
                    new.user_id := v_phone_guest_user_id;
                end if;
                return new;
            end if;
            -- rule 4: the users' phone, while the fallback is on (as read above)
            if v_phone_rules then
                select pg_catalog.count(*), pg_catalog.min(candidate.id::text)::uuid into v_users, v_phone_user_id
                from (
                    select app_user.id from {{ s }}.users as app_user
                    where {{ s }}.normalize_phone(app_user.phone) = v_phone
                    limit 2
                ) as candidate;
                if v_users = 1 and {{ linkage_user_is_free_to_link(s, 'v_phone_user_id') }} then
                    new.user_id := v_phone_user_id;
                end if;
            end if;
        end if;
        return new;
    end
    $function$;
    comment on function {{ s }}.auto_link_user_by_phone_trigger() is
        'delivery_linkage: BEFORE INSERT row trigger function linking a delivery that arrives with no user_id to its user.';
{% endmacro %}
