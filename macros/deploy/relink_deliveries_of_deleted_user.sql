{#
    relink_deliveries_of_deleted_user: row-level BEFORE DELETE trigger function on users
    (trigger_relink_deliveries_on_user_delete). The app's foreign key clears the deleted user's
    deliveries (ON DELETE SET NULL); the ones whose guest has been linked to another user since (a
    relink leaves a guest's earlier deliveries with the user they had) would then be linkable but NULL.
    They get their guest's current user first, in one statement per deleted user, audited
    (guest_relinked); the key's action then clears the rest, which no trigger of the linkage looks at
    row by row (trigger_message_deliveries_auto_link_user_on_update fires outside triggers only).
    Rows another transaction holds, and a new user being deleted or re-keyed itself, are skipped, never
    waited on: the key's action clears them, and their guests go to guest_link_queue (so do they while
    LINK_USER_BY_PHONE is off), whose sweeper links them after this transaction and the holder end.
#}
{% macro relink_deliveries_of_deleted_user(ctx) %}
    {%- set s = ctx.s -%}
    {%- set p = ctx.p -%}
    {#- the deleted user's deliveries whose guest is linkable, to another user, in its message's event -#}
    {%- set relinkable_deliveries -%}
        from {{ s }}.message_deliveries as delivery
                join {{ s }}.event_guests as guest on guest.id = delivery.guest_id
                left join {{ s }}.messages as message on message.id = delivery.message_id
                where delivery.user_id = old.id
                  and {{ linkage_guest_is_linkable('guest') }}
                  and guest.user_id <> old.id
                  and {{ linkage_guest_of_event('guest', 'message.event_id') }}
    {%- endset -%}
    create or replace function {{ p }}.relink_deliveries_of_deleted_user()
    returns trigger
    {{ linkage_definer_attributes('plpgsql') }}
    as $function$
    declare
        v_ids uuid[];
        v_users uuid[];
        v_guests uuid[];
        v_events uuid[];
        v_messages uuid[];
    begin
        if not {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }} then
            -- linking off: what the key's action will clear although its guest is linkable to another
            -- user goes to the sweeper, which links it once linking is on again
            insert into {{ p }}.guest_link_queue (guest_id)
            select distinct guest.id
            {{ relinkable_deliveries }};
            return old;
        end if;
        -- one scan of the deleted user's deliveries
        with relinkable as materialized (
            select delivery.id, guest.user_id, guest.id as guest_id, guest.event_id, delivery.message_id
            {{ relinkable_deliveries }}
        ),

        candidates as (
            select relinkable.*
            from relinkable
            join {{ s }}.message_deliveries as delivery on delivery.id = relinkable.id
            -- checked again on a row changed since the scan (READ COMMITTED re-reads a locked row)
            where delivery.user_id = old.id
              and delivery.guest_id = relinkable.guest_id
              and delivery.message_id is not distinct from relinkable.message_id
              and {{ linkage_user_is_free_to_link(s, 'relinkable.user_id') }}
            order by relinkable.id
            for no key update of delivery skip locked
        ),

        relinked as (
            {{ linkage_link_candidates(s) }}
        ),

        -- what the key's action will clear although its guest is linkable to another user (a row another
        -- transaction holds, a user being deleted or re-keyed itself): its guest goes to the sweeper,
        -- which links it once this transaction and the holder have ended
        queued as (
            insert into {{ p }}.guest_link_queue (guest_id)
            select distinct relinkable.guest_id
            from relinkable
            where not exists (select from relinked where relinked.id = relinkable.id)
        )

        select pg_catalog.array_agg(relinked.id), pg_catalog.array_agg(relinked.user_id),
               pg_catalog.array_agg(relinked.guest_id), pg_catalog.array_agg(relinked.event_id),
               pg_catalog.array_agg(relinked.message_id)
        into v_ids, v_users, v_guests, v_events, v_messages
        from relinked;
        if v_ids is not null then
            {{ linkage_write_attempts(ctx,
                "select 'message_deliveries', 'linked', 'guest_relinked', r.event_id, r.message_id, "
                ~ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") ~ ", 1, "
                ~ "pg_catalog.array_agg(r.id), pg_catalog.array_agg(r.user_id), pg_catalog.array_agg(r.guest_id), "
                ~ "null::text[], null::integer[], pg_catalog.array_fill(old.id, array[pg_catalog.count(*)::integer]) "
                ~ "from unnest(v_ids, v_users, v_guests, v_events, v_messages) as r (id, user_id, guest_id, event_id, message_id) "
                ~ "group by r.event_id, r.message_id") }};
        end if;
        return old;
    end
    $function$;
    comment on function {{ p }}.relink_deliveries_of_deleted_user() is
        'delivery_linkage: BEFORE DELETE row trigger function on users: a deleted user''s deliveries whose guest was relinked since get the guest''s user.';
{% endmacro %}
