{#
    link_user_by_phone(event_id, phone): the central rule for a delivery that names no guest, as the
    runbook calls it: guest phone first, then (behind the fallback flag) users' phones.
    Returns user_id, guest_id, outcome, reason, candidate_count. Changes nothing. The parameter names
    are the original system's (p_event_id, p_normalized_phone), so its named-argument callers keep
    working; the phone need not be normalized.
#}
{% macro link_user_by_phone(ctx) %}
    create or replace function {{ ctx.s }}.link_user_by_phone(p_event_id uuid, p_normalized_phone text)
    returns table (user_id uuid, guest_id uuid, outcome text, reason text, candidate_count integer)
    {{ linkage_definer_attributes('sql', 'stable') }}
    as $function$
        select d.linked_user_id, d.matched_guest_id, d.outcome, d.reason, d.candidate_count
        from {{ ctx.p }}.decide_delivery_links(
            array[null]::uuid[], array[null]::uuid[], array[null]::uuid[], array[p_event_id], array[p_normalized_phone]
        ) as d
    $function$;
    comment on function {{ ctx.s }}.link_user_by_phone(uuid, text) is
        'delivery_linkage: which user a delivery to this phone in this event links to, and why. Changes nothing.';
{% endmacro %}
