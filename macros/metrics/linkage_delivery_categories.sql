{#
    The delivery categories, written once: every delivery falls in exactly one, so their counts add up
    to the total in every output (the models, `linkage check`, the report).

    linkage_delivery_categories(): the list, in the order outputs show it; each entry has
        name         the category's name (also the name of its count column in delivery_integrity,
                     delivery_integrity_history and daily_integrity_check)
        delivery_user  'set' or 'NULL': the delivery's user_id
        is_defect    whether a delivery in it is the defect the health status is judged on (the
                     runbook's "inconsistent": counted in inconsistent_deliveries)
        description  what it means, for an operator (the model delivery_categories and the report
                     show it; models/docs/columns.md repeats it for the count columns, tested equal)

    linkage_delivery_category(deliveries, guests, messages, queued_guests): the SQL expression that puts a
        delivery in its category, over the staging models' columns (stg_app__message_deliveries,
        stg_app__event_guests, stg_app__messages) known in the query by these aliases, guests and messages
        left-joined, and queued_guests (linkage_queued_guests: the guests the sweeper will look at again
        within the window) left-joined on guest_id.

    Adding a category (for example a split of linkable_null for deliveries a guest_link_queue entry
    explains, awaiting the sweeper): one entry here, one branch in the expression (with the join it
    needs in linkage_categorized_deliveries), and the count column in the YAML of the three
    one-row models; the counts, the partition test, `linkage check` and the report follow the list.
#}
{% macro linkage_delivery_categories() %}
    {{ return([
        {
            'name': 'linked_to_guest_user',
            'delivery_user': 'set',
            'is_defect': false,
            'description': "Linked to its guest's user: the guest sees the message (the runbook's consistent).",
        },
        {
            'name': 'linked_to_other_user',
            'delivery_user': 'set',
            'is_defect': false,
            'description': "Linked to a user other than its guest's current user: the guest was relinked to another account or unlinked since, or the app chose the user. The linkage never overwrites a user.",
        },
        {
            'name': 'linked_without_guest',
            'delivery_user': 'set',
            'is_defect': false,
            'description': "Linked to a user, with no guest record (linked by phone, or by the app).",
        },
        {
            'name': 'linkable_null',
            'delivery_user': 'NULL',
            'is_defect': true,
            'description': "No user although its guest is active, linked to a user and of the message's event, and no recent queue entry explains it: the defect. The guest cannot see the message until the delivery is linked (the backfill links it).",
        },
        {
            'name': 'linkable_null_awaiting_sweeper',
            'delivery_user': 'NULL',
            'is_defect': false,
            'description': "No user although its guest is linkable, and a queue entry younger than the sweep window names its guest: the delivery and its guest's link were written by transactions that could not see each other (or its user's row was locked), and the sweeper links it within seconds. A defect once the entry is older than the window.",
        },
        {
            'name': 'null_guest_not_linked',
            'delivery_user': 'NULL',
            'is_defect': false,
            'description': "No user; its guest is active but has no account yet. Linked when the guest is.",
        },
        {
            'name': 'null_guest_removed',
            'delivery_user': 'NULL',
            'is_defect': false,
            'description': "No user; its guest was removed from the event (with or without an account). Never linked: a removed guest does not read the event's messages.",
        },
        {
            'name': 'null_guest_other_event',
            'delivery_user': 'NULL',
            'is_defect': false,
            'description': "No user; its guest belongs to another event than its message. The linkage never links across events.",
        },
        {
            'name': 'null_without_guest',
            'delivery_user': 'NULL',
            'is_defect': false,
            'description': "No user and no guest record (the delivery names no guest, or one that no longer exists).",
        },
    ]) }}
{% endmacro %}


{% macro linkage_delivery_category(deliveries='deliveries', guests='guests', messages='messages', queued_guests='queued_guests') -%}
    case
        when {{ deliveries }}.user_id is not null
            then
                case
                    when {{ guests }}.guest_id is null then 'linked_without_guest'
                    when {{ deliveries }}.user_id = {{ guests }}.user_id then 'linked_to_guest_user'
                    else 'linked_to_other_user'
                end
        when {{ guests }}.guest_id is null then 'null_without_guest'
        when not {{ guests }}.is_active then 'null_guest_removed'
        when {{ messages }}.event_id <> {{ guests }}.event_id then 'null_guest_other_event'
        when {{ guests }}.is_linkable and {{ queued_guests }}.guest_id is not null then 'linkable_null_awaiting_sweeper'
        when {{ guests }}.is_linkable then 'linkable_null'
        else 'null_guest_not_linked'
    end
{%- endmacro %}


{#
    linkage_categorized_columns(deliveries, guests, messages): the select list of a categorized delivery
    (its guest, users, event, times and linkage_delivery_category), over the same aliases as
    linkage_delivery_category. One row shape for every delivery (int_message_deliveries__categorized)
    and for the defects found through the partial index (int_message_deliveries__defective).
#}
{% macro linkage_categorized_columns(deliveries='deliveries', guests='guests', messages='messages', queued_guests='queued_guests') -%}
    {{ deliveries }}.delivery_id,
    {{ deliveries }}.message_id,
    {{ deliveries }}.guest_id,
    coalesce({{ guests }}.event_id, {{ messages }}.event_id) as event_id,
    {{ messages }}.event_id as message_event_id,
    {{ deliveries }}.user_id as delivery_user_id,
    {{ guests }}.user_id as guest_user_id,
    {{ guests }}.guest_id is not null as guest_exists,
    coalesce({{ guests }}.is_active, false) as guest_is_active,
    coalesce({{ guests }}.is_linkable, false) as guest_is_linkable,
    {{ guests }}.guest_name,
    {{ deliveries }}.created_at as delivery_created_at,
    {{ guests }}.updated_at as guest_updated_at,
    {{ linkage_delivery_category(deliveries, guests, messages, queued_guests) }} as delivery_category
{%- endmacro %}


{#
    linkage_categorized_deliveries(deliveries, guests, messages, queue): the SELECT of the categorized
    deliveries (linkage_categorized_columns) of the relation known in the query as deliveries (the
    staging model's rows, or a subset of them), with the joins the category needs: guests and messages
    left-joined, and the guests a recent queue entry names (linkage_queued_guests over queue). The
    one query int_message_deliveries__categorized (every delivery) and int_message_deliveries__defective
    (the deliveries without a user of linkable guests) categorize with.
#}
{% macro linkage_categorized_deliveries(deliveries, guests='guests', messages='messages', queue='queue') -%}
    select
        {{ linkage_categorized_columns(deliveries, guests, messages, 'queued_guests') }}
    from {{ deliveries }}
    left join {{ guests }}
        on {{ deliveries }}.guest_id = {{ guests }}.guest_id
    left join {{ messages }}
        on {{ deliveries }}.message_id = {{ messages }}.message_id
    left join ({{ linkage_queued_guests(queue) }}) as queued_guests
        on {{ deliveries }}.guest_id = queued_guests.guest_id
{%- endmacro %}

{#
    linkage_queued_guests(queue): a SELECT of the guests (guest_id, one row each) a queue entry younger than
    the sweep window (var linkage_sweep_window, default 5 minutes) names, from the queue's staging model
    known in the query by that alias.
#}
{% macro linkage_queued_guests(queue='queue') -%}
    select distinct {{ queue }}.guest_id
    from {{ queue }}
    where {{ queue }}.enqueued_at > now() - interval '{{ linkage_sweep_window() }}'
{%- endmacro %}


{# var linkage_sweep_window (default 5 minutes), checked to be a plain interval. #}
{% macro linkage_sweep_window() -%}
    {%- set window = var('linkage_sweep_window', '5 minutes') | string -%}
    {%- if not modules.re.match('^[0-9]+ *(seconds?|minutes?|hours?|s|min|h)$', window) -%}
        {{ exceptions.raise_compiler_error("var linkage_sweep_window must look like '5 minutes' or '90 seconds', got '" ~ window ~ "'") }}
    {%- endif -%}
    {{ window }}
{%- endmacro %}
