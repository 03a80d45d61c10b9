{#
    normalize_phone(text) → E.164 text or NULL. Immutable (usable in index expressions), never raises.
    Spaces, dots, dashes and parentheses are dropped; 10 digits, or 11 starting with 1, without '+'
    are US numbers; anything that is not E.164 after that is NULL. Only ASCII digits count.
    An input longer than 64 bytes is NULL at once (its length is read from the value's header, not
    the value): a column without a length limit cannot make a send or an audit read slow.
    A single SELECT without SET clauses, so the planner can inline it.
#}
{% macro normalize_phone(ctx) %}
    create or replace function {{ ctx.s }}.normalize_phone(phone_input text)
    returns text
    language sql
    immutable
    parallel safe
    as $function$
        select case
            when pg_catalog.octet_length(phone_input) > 64 then null
            when pg_catalog.translate(phone_input, ' .()-', '') ~ '^\+[1-9][0-9]{6,14}$'
                then pg_catalog.translate(phone_input, ' .()-', '')
            when pg_catalog.translate(phone_input, ' .()-', '') ~ '^[0-9]{10}$'
                then '+1' || pg_catalog.translate(phone_input, ' .()-', '')
            when pg_catalog.translate(phone_input, ' .()-', '') ~ '^1[0-9]{10}$'
                then '+' || pg_catalog.translate(phone_input, ' .()-', '')
        end
    $function$;
    comment on function {{ ctx.s }}.normalize_phone(text) is 'delivery_linkage: phone number as E.164, or NULL when it is not one.';
{% endmacro %}
