{#
    auto_link_user_by_phone_trigger: the runbook's row-level BEFORE INSERT trigger function on
    message_deliveries (trigger_message_deliveries_auto_link_user). A row that arrives with a user_id
    is the app's: kept, and noted in app_linked_deliveries for the statement's audit (it is not an
    attempt). A row that arrives with none:

    One query per row, by keys only: the delivery gets its guest's user when the guest is active,
    linked, of the message's event, LINK_USER_BY_PHONE is on, and the user's row is not locked by a
    transaction deleting or re-keying it (copying such a user would make the app's insert wait on its
    foreign-key check, and fail if the deletion commits; the row is left NULL and the statement's
    audit queues its guest for the sweeper). The same query reads the users fallback flag, so a row
    whose guest is not linkable costs nothing more unless the phone rules apply: a delivery naming no
    guest (or an unknown one), or any unlinked delivery while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is
    on, goes through decide_delivery_links (rules 3-5). Nothing is written for it: the statement
    trigger audits the whole INSERT from its transition table. Never raises on bad data.
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
    begin
        if new.user_id is not null then
            insert into {{ ctx.p }}.app_linked_deliveries (delivery_id) values (new.id);
            return new;
        end if;
        select
            case
                when {{ linkage_guest_is_linkable('guest') }}
                    and {{ linkage_guest_of_event('guest', '(select message.event_id from ' ~ s ~ '.messages as message where message.id = new.message_id)') }}
                    and {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }}
                    and {{ linkage_user_is_free_to_link(s, 'guest.user_id') }}
                    then guest.user_id
            end,
            guest.id is not null,
            {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }}
        into new.user_id, v_guest_found, v_phone_rules
        from (select) as one
        left join {{ s }}.event_guests as guest on guest.id = new.guest_id;

        if new.user_id is null and (v_phone_rules or not v_guest_found) then
            select decision.linked_user_id into new.user_id
            from {{ ctx.p }}.decide_delivery_links(
                array[new.id], array[new.guest_id], array[new.message_id], array[null]::uuid[], array[new.phone_number::text]
            ) as decision
            where decision.outcome = 'linked'
              and {{ linkage_user_is_free_to_link(s, 'decision.linked_user_id') }};
        end if;
        return new;
    end
    $function$;
    comment on function {{ s }}.auto_link_user_by_phone_trigger() is
        'delivery_linkage: BEFORE INSERT row trigger function linking a delivery that arrives with no user_id to its user.';
{% endmacro %}
