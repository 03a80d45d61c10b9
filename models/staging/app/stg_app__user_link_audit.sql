{#-
    audit_source: 'linkage' (written by this project) or 'legacy' (rows of an audit table the deploy
    adopted). A deploy that predates the column (var linkage_deploy false on an old install) has
    written only its own rows: they read as 'linkage'.
-#}
{%- set source_relation = source('app', 'user_link_audit') -%}
{%- set source_columns = adapter.get_columns_in_relation(source_relation) | map(attribute='name') | list
    if execute else [] -%}

-- A plain select, no CTEs: PostgreSQL pulls a view without a WITH clause up into the query that
-- reads it; a view with one stays a subquery scan (about 15 % slower on the one-pass integrity count).

select
    id::text as audit_id,
    {% if 'audit_source' in source_columns or not execute -%}
        audit_source,
    {%- else -%}
        'linkage'::text as audit_source,
    {%- endif %}
    table_name,
    record_id as delivery_id,
    event_id,
    normalized_phone,
    matched_guest_id,
    linked_user_id,
    outcome::text as outcome,
    reason,
    candidate_count,
    phone_fallback_enabled,
    previous_user_id,
    created_at
from {{ source_relation }}
