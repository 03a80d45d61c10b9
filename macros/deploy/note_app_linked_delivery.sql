{#
    note_app_linked_delivery: row-level BEFORE INSERT trigger function on message_deliveries, called
    only for rows that arrive with a user_id (trigger_message_deliveries_app_linked's WHEN clause).
    A user_id written by the app is never overwritten and is not an attempt: the row is noted in
    insert_notes so the statement's audit leaves it out. Fires before the auto-link trigger (trigger
    names sort that way), so it sees the app's value, not the linkage's.
#}
{% macro note_app_linked_delivery(ctx) %}
    create or replace function {{ ctx.p }}.note_app_linked_delivery()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $function$
    declare
        v_note tid;
    begin
        insert into {{ ctx.p }}.insert_notes (record_id, kind) values (new.id, 'app_linked') returning ctid into v_note;
        perform {{ linkage_remember_row('delivery_linkage.note_ctids', 'v_note') }};
        return new;
    end
    $function$;
    comment on function {{ ctx.p }}.note_app_linked_delivery() is
        'delivery_linkage: BEFORE INSERT row trigger function: remembers rows whose user_id came from the app (not attempts).';
{% endmacro %}
