"""What every term of the report means, said once.

The sections call `Glossary.use(key, text)` where a term appears: it returns a link to the term's
entry, and the entry joins the list `Glossary.section()` renders at the end of the page. Values that
come from the data (outcomes, reasons, backfill kinds, …) are glossed when the page shows them;
one the list does not know still gets an entry, pointing to the model's documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Term:
    term: str
    meaning: str  # HTML; `{critical_pct}` is filled in


TERMS: dict[str, Term] = {
    "delivery": Term(
        "delivery",
        "One row of <code>message_deliveries</code>: one message sent to one guest. The guest reads it "
        "in the app only when the delivery's <code>user_id</code> is the guest's user (row-level security).",
    ),
    "linkable_null": Term(
        "linkable but NULL",
        "A delivery with no user (<code>user_id</code> NULL) whose guest is active (not removed from the "
        "event) and linked to a user: the defect this project prevents and repairs. The guest cannot see "
        "the message until the delivery is linked. Also counted as <em>inconsistent</em>.",
    ),
    "inconsistency": Term(
        "inconsistency",
        "Linkable-but-NULL deliveries as a percentage of all deliveries: the figure the health status is "
        "judged on.",
    ),
    "consistent": Term("consistent", "A delivery whose user is its guest's user."),
    "both_null": Term(
        "both NULL",
        "A delivery with no user whose guest has no user either (the guest has not signed up, or was "
        "never matched to an account). Expected, not a defect: the delivery is linked when its guest is.",
    ),
    "conflicting": Term(
        "conflicting",
        "A delivery whose user is not its guest's current user (the guest was linked to another account "
        "later, or the app wrote another user).",
    ),
    "health": Term(
        "health status",
        '<a class="term" href="#term-healthy">healthy</a>, <a class="term" href="#term-warning">warning</a> '
        'or <a class="term" href="#term-critical">critical</a>: the inconsistency judged against the '
        "critical threshold, as "
        "<code>delivery_integrity.health_status</code>, <code>dbt test</code> and <code>linkage check</code> "
        "judge it.",
    ),
    "healthy": Term("healthy", "No delivery is linkable but NULL."),
    "warning": Term(
        "warning",
        "Some deliveries are linkable but NULL, at most {critical_pct}% of all deliveries: run the "
        "backfill soon. <code>dbt test</code> warns; <code>linkage check</code> exits 1.",
    ),
    "critical": Term(
        "critical",
        "More than {critical_pct}% of all deliveries are linkable but NULL (the threshold is the dbt var "
        "<code>linkage_critical_pct</code>): investigate now. <code>dbt test</code> fails; "
        "<code>linkage check</code> exits 2.",
    ),
    "success_rate": Term(
        "trigger success rate, 24 h",
        "Of the insert trigger's link attempts in the last 24 hours, the share that linked a user. "
        "Deliveries to guests without an account end as <code>no_match</code>, so it is rarely 100%.",
    ),
    "check": Term(
        "check",
        "One row of <code>delivery_integrity_history</code>: the integrity figures as one "
        "<code>dbt run</code> found them.",
    ),
    "attempt": Term(
        "link attempt",
        "One row of the audit trail (<code>user_link_audit</code>): one decision about one delivery by the "
        "insert trigger, a backfill or a rollback, with its outcome and reason.",
    ),
    "outcome": Term("outcome", "What a link attempt did (the values are listed below)."),
    "reason": Term("reason", "Why it did it: the rule that decided (the values are listed below)."),
    "backfill": Term(
        "backfill",
        "Linking deliveries that were written before their guest was linked to a user.",
    ),
    "ambiguous_group": Term(
        "ambiguous phone group",
        "A phone number shared by several active guests of one event, or by several users. The linkage "
        "never guesses between them, so deliveries that depend on such a phone stay without a user.",
    ),
}

# Values the data holds, by column: glossed when the page shows them.
VALUES: dict[str, tuple[str, dict[str, str]]] = {
    "outcome": (
        "outcome",
        {
            "linked": "The delivery got a user.",
            "no_match": "No user could be chosen; the reason says why.",
            "skipped": "Linking was switched off (feature flag <code>LINK_USER_BY_PHONE</code>).",
            "unlinked": "A rollback removed a link the linkage had made.",
        },
    ),
    "reason": (
        "reason",
        {
            "guest_record": "The delivery's guest is active and linked: the guest's user was used.",
            "guest_phone": "The delivery named no guest; exactly one active guest of the event has its "
            "phone, and that guest's user was used.",
            "user_phone": "No guest matched; exactly one user has the phone (only while the flag "
            "<code>LINK_USER_BY_PHONE_FALLBACK_TO_USERS</code> is on).",
            "ambiguous_guests": "Several active guests of the event share the phone: no guess is made.",
            "ambiguous_users": "Several users share the phone: no guess is made.",
            "guest_mismatch": "The phone belongs to another guest than the one the delivery names.",
            "guest_not_linked": "The guest has no user yet; its deliveries are linked when it gets one.",
            "guest_removed": "The guest was removed from the event.",
            "no_candidate": "No guest or user has the phone.",
            "no_phone": "The delivery has no phone number.",
            "invalid_phone": "The phone number cannot be normalized.",
            "no_event": "The delivery's message belongs to no event.",
            "feature_disabled": "Linking was switched off when the delivery was written.",
            "guest_linked": "Backfilled when its guest was linked to a user.",
            "manual_backfill": "Backfilled by <code>backfill_guest_deliveries</code> called by hand.",
            "rollback": "Undone by a rollback (<code>linkage rollback</code>).",
            "app_update": "The app itself set the delivery's user.",
            "concurrent_change": "Another transaction changed the delivery while it was being decided.",
        },
    ),
    "source": (
        "written by",
        {
            "message_deliveries": "The insert trigger, as the app writes deliveries.",
            "message_deliveries_backfill": "A backfill: when a guest is linked, the historical backfill, or "
            "by hand.",
            "message_deliveries_rollback": "A rollback.",
            "message_deliveries_app_update": "The app, updating a delivery's user itself.",
        },
    ),
    "kind": (
        "backfill kind",
        {
            "guest_link": "Run by the trigger when a guest is linked to a user: that guest's earlier "
            "deliveries.",
            "historical": "The historical backfill (<code>linkage backfill</code>, "
            "<code>dbt run-operation backfill_deliveries</code>) over all deliveries without a user.",
            "manual": "<code>backfill_guest_deliveries</code> called by hand.",
            "other": "Any other backfill reason.",
        },
    ),
    "group": (
        "group",
        {
            "event_guests": "Active guests of one event sharing a phone.",
            "users": "Users sharing a phone.",
        },
    ),
    "timing": (
        "timing",
        {
            "delivery_before_guest_link": "The delivery was written before its guest was last updated "
            "(linked): the case the backfill repairs.",
            "delivery_after_guest_link": "The delivery was written after its guest was linked: the insert "
            "trigger should have linked it; worth investigating.",
        },
    ),
}
TIMING_VALUES = set(VALUES["timing"][1])
UNKNOWN = "Not described here: see the column's description in the dbt docs (<code>dbt docs generate</code>)."


def anchor(key: str) -> str:
    return "term-" + re.sub(r"[^a-z0-9_-]", "-", key.lower())


class Glossary:
    """The terms a page used, in the order of TERMS, then the data values by column."""

    def __init__(self, critical_pct: float) -> None:
        self.critical_pct = critical_pct
        self._used: dict[str, None] = {}

    def _entry(self, key: str) -> tuple[str, str]:
        if key in TERMS:
            term = TERMS[key]
            return escape(term.term), term.meaning.replace("{critical_pct}", f"{self.critical_pct:g}")
        column, _, value = key.partition("_")
        if key in TIMING_VALUES:
            column, value = "timing", key
        label, meanings = VALUES.get(column, (column, {}))
        meaning = meanings.get(value, UNKNOWN)
        rule = value.removeprefix("historical_")
        if column == "reason" and rule != value:  # historical_<rule>: the historical backfill, by that rule
            meaning = f"Linked by the historical backfill, by the rule <code>{escape(rule)}</code>: " + (
                meanings.get(rule, UNKNOWN)[0].lower() + meanings.get(rule, UNKNOWN)[1:]
            )
        return f"<code>{escape(value)}</code> ({escape(label)})", meaning

    def use(self, key: str, text: str | None = None) -> str:
        """A link to the term's entry (which the glossary will hold); `text` is what the page shows."""
        self._used[key] = None
        shown = escape(text) if text is not None else self._entry(key)[0]
        return f'<a class="term" href="#{anchor(key)}">{shown}</a>'

    def keys(self) -> list[str]:
        order = list(TERMS) + [f"{column}_" for column in VALUES]

        def rank(key: str) -> tuple[int, str]:
            if key in TERMS:
                return order.index(key), ""
            prefix = "timing_" if key in TIMING_VALUES else key.partition("_")[0] + "_"
            return (order.index(prefix) if prefix in order else len(order)), key

        return sorted(self._used, key=rank)

    def section(self) -> str:
        entries = "".join(
            f'<dt id="{anchor(key)}">{term}</dt><dd>{meaning}</dd>'
            for key in self.keys()
            for term, meaning in [self._entry(key)]
        )
        return (
            '<section id="terms"><h2>Terms used in this report</h2>'
            f'<dl class="terms">{entries}</dl></section>'
        )
