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
