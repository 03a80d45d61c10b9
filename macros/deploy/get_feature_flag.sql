{# get_feature_flag(flag_name) → boolean: the flag's value; false for a flag that is not there. #}
{% macro get_feature_flag(s) %}
    create or replace function {{ s }}.get_feature_flag(p_flag_name text)
    returns boolean
    language sql
    stable
    security definer
    set search_path = ''
    as $function$
        select coalesce(
            (select f.enabled from {{ s }}.feature_flags as f where f.flag_name = p_flag_name limit 1),
            false
        )
    $function$;
    comment on function {{ s }}.get_feature_flag(text) is 'delivery_linkage: value of a feature flag; false when the flag is missing.';
{% endmacro %}
