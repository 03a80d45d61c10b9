{#
    linkage_link_candidates(s): the statement of a set-based link, for a CTE of a function body: the
    deliveries of a CTE named candidates (id, user_id, guest_id, event_id, message_id; selected, locked
    and skipped when held by another transaction there) get their user_id; returns id, user_id,
    guest_id, event_id, message_id of each linked row, for the audit. backfill_guest_deliveries and
    relink_deliveries_of_deleted_user link this way.
#}
{% macro linkage_link_candidates(s) -%}
    update {{ s }}.message_deliveries as delivery
            set user_id = candidates.user_id
            from candidates
            where delivery.id = candidates.id
            returning delivery.id, candidates.user_id, candidates.guest_id, candidates.event_id, candidates.message_id
{%- endmacro %}
