{#
    linkage_as_bool(value, name): an operation's boolean argument, given as a YAML boolean or as text
    (true/false, yes/no, on/off, 1/0); anything else stops the operation naming the argument.
#}
{% macro linkage_as_bool(value, name) %}
    {%- set text = value | string | trim | lower -%}
    {%- if text in ['true', 'yes', '1', 'on'] -%}
        {{ return(true) }}
    {%- elif text in ['false', 'no', '0', 'off'] -%}
        {{ return(false) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error(name ~ " must be true or false, got '" ~ value ~ "'") }}
{% endmacro %}
