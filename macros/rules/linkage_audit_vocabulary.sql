{#
    linkage_audit_vocabulary(): THE audit vocabulary, written once: every table_name, outcome and reason
    the linkage writes to user_link_audit, each with what it means to an operator. Rendered into the
    deployed function audit_vocabulary() (what `linkage check`, the report's glossary, the GX suite's
    test and the data test assert_audit_vocabulary_is_known read) and into nothing else by hand.
    reasons: (reason, table_name, outcome, meaning): the triples that occur (feature_disabled twice).
    table_names marked legacy were written by earlier versions of this project (kept readable).
#}
{% macro linkage_audit_vocabulary() %}
    {{ return({
        'table_names': [
            ('message_deliveries', 'an attempt to link a delivery as it is inserted, or when an update of its guest, phone or user leaves it with no user', false),
            ('message_deliveries_backfill', 'a link made after the delivery was written: its guest became linkable, the sweeper, a manual or the historical backfill', false),
            ('message_deliveries_rollback', 'a link undone by rollback_links', false),
            ('message_deliveries_app_update', 'a user the app wrote itself that the rules do not give now (an update or an upsert): kept, not an attempt', false),
        ],
        'outcomes': [
            ('linked', 'the delivery got a user'),
            ('no_match', 'no user could be chosen under the rules; the reason says why'),
            ('skipped', 'nothing was tried now: linking was switched off, or the attempt was left to the sweeper'),
            ('unlinked', 'a link was undone (rollback)'),
        ],
        'reasons': [
            ('guest_record', 'message_deliveries', 'linked', 'its guest is active and linked to a user (rule 2)'),
            ('guest_phone', 'message_deliveries', 'linked', 'no guest named; exactly one active guest of the event has its phone, and that guest is linked (rule 3)'),
            ('user_phone', 'message_deliveries', 'linked', 'exactly one user has its phone, while LINK_USER_BY_PHONE_FALLBACK_TO_USERS is on (rule 4)'),
            ('guest_relinked', 'message_deliveries', 'linked', 'its user was deleted; its guest had been linked to another user since, who gets it'),
            ('guest_not_linked', 'message_deliveries', 'no_match', 'its guest has no account yet: it is linked when the guest is'),
            ('guest_removed', 'message_deliveries', 'no_match', 'its guest was removed from the event'),
            ('guest_other_event', 'message_deliveries', 'no_match', 'its guest belongs to another event than its message: never linked across events'),
            ('ambiguous_guests', 'message_deliveries', 'no_match', 'more than one active guest of the event has its phone'),
            ('guest_mismatch', 'message_deliveries', 'no_match', 'its phone belongs to another guest than the one it names'),
            ('ambiguous_users', 'message_deliveries', 'no_match', 'more than one user has its phone (users fallback)'),
            ('no_candidate', 'message_deliveries', 'no_match', 'no guest and no user has its phone'),
            ('no_phone', 'message_deliveries', 'no_match', 'it names no guest and has no phone'),
            ('invalid_phone', 'message_deliveries', 'no_match', 'it names no guest and its phone is not a phone number'),
            ('no_event', 'message_deliveries', 'no_match', 'neither its guest nor its message tells its event'),
            ('user_locked', 'message_deliveries', 'no_match', 'it names no guest, and the user the phone rules chose was locked by a transaction deleting or changing it (linking would have made the insert wait): the historical backfill links it later'),
            ('feature_disabled', 'message_deliveries', 'skipped', 'LINK_USER_BY_PHONE was off'),
            ('deferred', 'message_deliveries', 'skipped', 'its guest is linkable but the link could not be made in the statement (its user row was locked, or the guest became linkable while the statement ran): the sweeper links it after commit'),
            ('guest_linked', 'message_deliveries_backfill', 'linked', 'its guest became linkable (linked, restored or relinked): linked by the sweeper once the link had committed and every transaction that overlapped it had ended'),
            ('sweeper', 'message_deliveries_backfill', 'linked', 'its send could not link it (the user row was locked, or the guest was linked while the send ran): linked by the sweeper afterwards'),
            ('manual_backfill', 'message_deliveries_backfill', 'linked', 'backfill_guest_deliveries(guest, user) called by an operator'),
            ('historical_guest_record', 'message_deliveries_backfill', 'linked', 'the historical backfill, by guest record'),
            ('historical_guest_phone', 'message_deliveries_backfill', 'linked', 'the historical backfill, by guest phone'),
            ('historical_user_phone', 'message_deliveries_backfill', 'linked', 'the historical backfill, by user phone'),
            ('feature_disabled', 'message_deliveries_backfill', 'skipped', 'its guest became linkable while LINK_USER_BY_PHONE was off'),
            ('rollback', 'message_deliveries_rollback', 'unlinked', 'rollback_links undid the link'),
            ('app_update', 'message_deliveries_app_update', 'linked', 'the app set or changed the user_id itself (or its upsert carried a user chosen before its guest changed)'),
            ('concurrent_change', 'message_deliveries', 'no_match', 'its guest changed while it was decided (earlier versions only)'),
        ],
        'legacy_reasons': ['concurrent_change'],
    }) }}
{% endmacro %}


{# A SQL list of literals of the vocabulary's values of one kind ('table_names', 'outcomes', 'reasons'). #}
{% macro linkage_audit_values(kind) -%}
    {%- for value in linkage_audit_vocabulary()[kind] | map(attribute=0) | unique -%}
        '{{ value }}'{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#
    linkage_outcome_of_reason(reason): SQL CASE giving the outcome the vocabulary pairs with a reason of
    an attempt (table_name message_deliveries), for a SQL expression holding the reason.
#}
{% macro linkage_outcome_of_reason(reason) -%}
    case {{ reason }}
    {%- for entry in linkage_audit_vocabulary()['reasons'] if entry[1] == 'message_deliveries' %}
        when '{{ entry[0] }}' then '{{ entry[2] }}'
    {%- endfor %}
    end
{%- endmacro %}
