{# get_feature_flag(flag_name) → boolean: the flag's value as the linkage reads it (linkage_flag); false for a missing flag. #}
{% macro get_feature_flag(ctx) %}
    create or replace function {{ ctx.s }}.get_feature_flag(flag_name text)
    returns boolean
    {{ linkage_definer_attributes('sql', 'stable') }}
    as $function$
        select {{ linkage_flag(ctx, 'get_feature_flag.flag_name') }}
    $function$;
    comment on function {{ ctx.s }}.get_feature_flag(text) is
        'delivery_linkage: value of a feature flag (on only when every row of that name is enabled); false when missing.';
{% endmacro %}
