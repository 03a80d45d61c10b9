{#
    linkage_grain_key(columns): one text value naming a row of a model whose grain is several
    columns, for its primary-key tests (unique + not_null): the columns' text joined with '|', NULL
    written as an empty field. Readable (e.g. '2026-03-01|message_deliveries|linked|guest_record').
#}
{% macro linkage_grain_key(columns) -%}
    concat_ws('|', {% for column in columns -%}
        coalesce({{ column }}::text, ''){{ ', ' if not loop.last }}
    {%- endfor %})
{%- endmacro %}
