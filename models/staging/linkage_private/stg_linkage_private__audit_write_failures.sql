{#-
    The deploy keeps every audit row it could not write here (table audit_write_failures in the
    linkage's private schema). Before a deploy that creates the table has run, there is none: the
    model is then empty rather than an error, so the rest of the project builds on older installs.
-#}
{%- set source_relation = source('linkage_private', 'audit_write_failures') -%}
{%- set exists = linkage_relation_exists(source_relation) -%}

-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

{% if exists -%}
    select
        id::text as audit_write_failure_id,
        created_at,
        table_name,
        error,
        payload
    from {{ source_relation }}
{%- else -%}
    select
        null::text as audit_write_failure_id,
        null::timestamptz as created_at,
        null::text as table_name,
        null::text as error,
        null::jsonb as payload
    where false
{%- endif %}
