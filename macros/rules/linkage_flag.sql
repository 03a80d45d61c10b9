{#
    linkage_flag(ctx, flag_name): THE way a feature flag is read, everywhere (trigger functions, the
    rules, the audit, get_feature_flag): on only when the flag has at least one row and every row of
    that name says enabled. An adopted feature_flags table without a primary key may hold a name twice;
    a flag then counts as on only if all its rows agree (the conservative reading: a stray `false`
    switches linking off rather than on). A missing flag is off; `linkage check` and the data test
    assert_linkage_flags_present say so loudly. Read from the table each time it is needed: the
    linkage keeps no copy of a flag anywhere a session could change it.
#}
{% macro linkage_flag(ctx, flag_name) -%}
    coalesce((
        select pg_catalog.bool_and(flag.enabled)
        from {{ ctx.flags }} as flag
        where flag.flag_name = {{ flag_name }}
    ), false)
{%- endmacro %}

{#
    linkage_flags(ctx): both flags in one read, for a query that needs both (a row trigger, once per
    row): a one-row subquery with the columns linking (LINK_USER_BY_PHONE) and fallback_to_users
    (LINK_USER_BY_PHONE_FALLBACK_TO_USERS), each read as linkage_flag reads it. One scan of the flags
    instead of two: a flag read is the largest part of a row trigger's cost after the guest's lookup.
#}
{% macro linkage_flags(ctx) -%}
    (
        select
            coalesce(pg_catalog.bool_and(flag.enabled) filter (where flag.flag_name = 'LINK_USER_BY_PHONE'), false) as linking,
            coalesce(pg_catalog.bool_and(flag.enabled) filter (where flag.flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'), false) as fallback_to_users
        from {{ ctx.flags }} as flag
    )
{%- endmacro %}
