{#
    dbt run-operation rollback_links --args '{since: "2026-11-24 10:00", dry_run: true}'
    Undoes the links the linkage made since a time (the private rollback_links_since), leaving alone
    deliveries whose user was changed since. One transaction, committed at the end.
#}
{% macro rollback_links(since=none, dry_run=false) %}
    {%- set s = linkage_schema() -%}
    {%- set dry_run = linkage_as_bool(dry_run, 'dry_run') -%}
    {%- if since is none or (since | string | trim) == '' -%}
        {{ exceptions.raise_compiler_error("rollback_links needs since, e.g. --args '{since: \"2026-11-24 10:00\", dry_run: true}'") }}
    {%- endif -%}
    {%- set since_literal = "'" ~ (since | string | trim | replace("'", "''")) ~ "'::timestamptz" -%}
    {%- set result = linkage_run_committed(
        "select " ~ since_literal ~ "::text as since, links_found, unlinked, left_alone from "
        ~ linkage_private_schema() ~ ".rollback_links_since(" ~ since_literal ~ ", " ~ dry_run ~ ")"
    ) -%}
    {%- set row = result.rows[0] -%}
    {{ log('Rollback of links since ' ~ row['since'] ~ (' (dry run: nothing changed)' if dry_run else '') ~ ': '
           ~ row['links_found'] ~ ' links found, '
           ~ row['unlinked'] ~ (' would be unlinked, ' if dry_run else ' unlinked, ')
           ~ row['left_alone'] ~ ' left alone (user changed since)', info=True) }}
{% endmacro %}
