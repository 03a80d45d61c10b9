{#
    normalize_phone(text) → E.164 text or NULL. Immutable (usable in index expressions), never raises.
    Spaces, dots, dashes and parentheses are dropped; 10 digits, or 11 starting with 1, without '+'
    are US numbers; anything that is not E.164 after that is NULL. Only ASCII digits count.
    A single SELECT without SET clauses, so the planner can inline it.
#}
{% macro normalize_phone(s) %}
    create or replace function {{ s }}.normalize_phone(phone text)
    returns text
    language sql
    immutable
    parallel safe
    as $function$
        select case
            when pg_catalog.translate(phone, ' .()-', '') ~ '^\+[1-9][0-9]{6,14}$'
                then pg_catalog.translate(phone, ' .()-', '')
            when pg_catalog.translate(phone, ' .()-', '') ~ '^[0-9]{10}$'
                then '+1' || pg_catalog.translate(phone, ' .()-', '')
            when pg_catalog.translate(phone, ' .()-', '') ~ '^1[0-9]{10}$'
                then '+' || pg_catalog.translate(phone, ' .()-', '')
        end
    $function$;
    comment on function {{ s }}.normalize_phone(text) is 'delivery_linkage: phone number as E.164, or NULL when it is not one.';
{% endmacro %}
