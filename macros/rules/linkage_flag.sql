{#
    linkage_flag(ctx, flag_name): THE way a feature flag is read, everywhere (trigger functions, the
    rules, the audit, get_feature_flag): on only when the flag has at least one row and every row of
    that name says enabled. An adopted feature_flags table without a primary key may hold a name twice;
    a flag then counts as on only if all its rows agree (the conservative reading: a stray `false`
    switches linking off rather than on). A missing flag is off; `linkage check` and the data test
    assert_linkage_flags_present say so loudly.
#}
{% macro linkage_flag(ctx, flag_name) -%}
    coalesce((
        select pg_catalog.bool_and(flag.enabled)
        from {{ ctx.flags }} as flag
        where flag.flag_name = {{ flag_name }}
    ), false)
{%- endmacro %}


{#
    linkage_flags_of_statement(ctx): PL/pgSQL statements that set v_linking and v_fallback to the two
    flags as linkage_flag reads them, read once per SQL statement of the app (cached in the
    transaction-local setting delivery_linkage.flags, keyed by statement_timestamp()), so a row trigger
    fired for each of an INSERT's rows reads the flags table once, and every row of a statement sees
    the same flags. The caller declares v_linking boolean, v_fallback boolean, v_flags text.
#}
{% macro linkage_flags_of_statement(ctx) %}
        v_flags := pg_catalog.current_setting('delivery_linkage.flags', true);
        if v_flags is null
            or pg_catalog.split_part(v_flags, '|', 1) <> (extract(epoch from pg_catalog.statement_timestamp()) * 1000000)::bigint::text
        then
            v_linking := {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE'") }};
            v_fallback := {{ linkage_flag(ctx, "'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'") }};
            perform pg_catalog.set_config(
                'delivery_linkage.flags',
                (extract(epoch from pg_catalog.statement_timestamp()) * 1000000)::bigint::text
                    || '|' || v_linking::text || '|' || v_fallback::text,
                true
            );
        else
            v_linking := pg_catalog.split_part(v_flags, '|', 2)::boolean;
            v_fallback := pg_catalog.split_part(v_flags, '|', 3)::boolean;
        end if;
{% endmacro %}
