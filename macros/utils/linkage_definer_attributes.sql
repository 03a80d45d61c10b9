{#
    linkage_definer_attributes(language, volatility): the attributes of every function the deploy
    creates to run with its owner's rights, between its `returns` and its `as $function$`: the
    language, the volatility when given (PostgreSQL's default, volatile, otherwise), security definer
    and an empty search_path, so that every name in the body must be schema-qualified. Written once, so
    that no privileged function can be created without the empty search_path.
#}
{% macro linkage_definer_attributes(language, volatility=none) -%}
    language {{ language }}
    {%- if volatility %}
    {{ volatility }}
    {%- endif %}
    security definer
    set search_path = ''
{%- endmacro %}
