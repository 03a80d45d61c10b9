{#-
    The sweeper's queue (table guest_link_queue in the linkage's private schema). Before a deploy that
    creates the table has run, there is none: the model is then empty rather than an error.
-#}
{%- set source_relation = source('linkage_private', 'guest_link_queue') -%}
{%- set exists = linkage_relation_exists(source_relation) -%}

{% if exists -%}
    select
        id as queue_entry_id,
        guest_id,
        enqueued_at,
        stamped_at
    from {{ source_relation }}
{%- else -%}
    select
        null::bigint as queue_entry_id,
        null::uuid as guest_id,
        null::timestamptz as enqueued_at,
        null::timestamptz as stamped_at
    where false
{%- endif %}
