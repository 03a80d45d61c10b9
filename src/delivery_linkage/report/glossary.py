"""What every term of the report means, said once.

The page's templates call `terms.use(key, text)` where a term appears: it returns a link to the term's
entry (markup, safe in an autoescaped template), and the entry joins the list `terms.entries()` gives
the glossary at the end of the page. Values that come from the data (outcomes, reasons, backfill
kinds, test statuses …) are glossed when the page shows them; one the list does not know still gets an
entry, pointing to the model's documentation. The delivery categories' meanings come from the database
(model delivery_categories, defined once in macro linkage_delivery_categories), and so do the audit's
outcomes, reasons and table names (audit_vocabulary(), defined once in macro linkage_audit_vocabulary):
`terms.define`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape


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
    "category": Term(
        "delivery category",
        "Every delivery is in exactly one category (model <code>delivery_categories</code>, defined once in the "
        "macro <code>linkage_delivery_categories</code>): their counts add up to the total. Only "
        '<a class="term" href="#term-category_linkable_null">linkable_null</a> is a defect.',
    ),
    "runbook_figure": Term(
        "runbook's figure",
        "What the runbook's original daily query counts on the same data: every delivery with no user whose "
        "guest has an account, removed guests and guests of another event included, over the deliveries that "
        "have a guest. Shown beside the project's figure with one line saying why they differ; it is never "
        "judged: the health status is the project's alone.",
    ),
    "problem": Term(
        "problem",
        "Something wrong besides the figures: a feature flag row missing (linking silently off) or audit rows "
        "that could not be written. Either makes a healthy check a warning.",
    ),
    "health": Term(
        "health status",
        '<a class="term" href="#term-healthy">healthy</a>, <a class="term" href="#term-warning">warning</a> '
        'or <a class="term" href="#term-critical">critical</a>: the one verdict, the runbook\'s alert levels on '
        "the inconsistency (raised to warning by a problem). The badge, <code>linkage check</code> (its exit "
        "code), the dbt tests' severities and the GX suite on the marts all give the same.",
    ),
    "healthy": Term("healthy", "No delivery is linkable but NULL, and nothing else is wrong."),
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
        "Informational, with no threshold: deliveries to guests without an account end as <code>no_match</code> "
        "and are not a defect, so the rate is rarely 100% and says nothing good or bad by itself; the defect "
        "is counted in linkable_null.",
    ),
    "check": Term(
        "check",
        "One row of <code>delivery_integrity_history</code>: the integrity figures as one "
        "<code>dbt run</code> found them; the last point is this report's own check (now).",
    ),
    "test_history": Term(
        "test history",
        "Every data test of the project, its latest runs (<code>dbt test</code>, <code>dbt build</code>) from "
        "<code>test_result_history</code>: the status of each run, oldest to newest, when the status last "
        "changed, and how long a run takes.",
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
    "kind": (
        "backfill kind",
        {
            "guest_link": "Run by the sweeper after a guest became linkable (linked, restored or "
            "relinked): that guest's earlier deliveries, and sends that raced the link.",
            "historical": "The historical backfill (<code>linkage backfill</code>, "
            "<code>dbt run-operation backfill_deliveries</code>) over all deliveries without a user.",
            "manual": "<code>backfill_guest_deliveries</code> called by hand.",
            "other": "Any other backfill reason.",
        },
    ),
    "test": (
        "test status",
        {
            "pass": "The test found nothing wrong.",
            "warn": "A warn-severity test found rows: the warning level of the verdict.",
            "fail": "An error-severity test found rows: dbt test exits non-zero.",
            "error": "The test could not run (its SQL failed).",
            "skipped": "Not run: something it depends on failed first.",
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
# The audit vocabulary's kinds (audit_vocabulary().kind): the page's key prefix and column label.
VOCABULARY_LABELS = {"outcome": "outcome", "reason": "reason", "source": "written by"}
VOCABULARY_PREFIX = {"outcome": "outcome", "reason": "reason", "table_name": "source"}
UNKNOWN = "Not described here: see the column's description in the dbt docs (<code>dbt docs generate</code>)."


def anchor(key: str) -> str:
    return "term-" + re.sub(r"[^a-z0-9_-]", "-", key.lower())


class Glossary:
    """The terms a page used, in the order of TERMS, then the data values by column."""

    def __init__(self, critical_pct: float) -> None:
        self.critical_pct = critical_pct
        self._used: dict[str, None] = {}
        self._defined: dict[str, tuple[str, str]] = {}

    def define(self, key: str, term: str, meaning: str, label: str | None = None) -> None:
        """A term whose meaning comes from the data (plain text, escaped when shown); `label` says
        which column's value it is."""
        self._defined[key] = (term, str(escape(meaning[:1].upper() + meaning[1:])), label)

    def _entry(self, key: str) -> tuple[Markup, Markup]:
        if key in self._defined:
            term, meaning, label = self._defined[key]
            if label:
                return Markup("<code>{}</code> ({})").format(term, label), Markup(meaning)
            return Markup("<code>{}</code>").format(term), Markup(meaning)
        if key in TERMS:
            term = TERMS[key]
            return escape(term.term), Markup(term.meaning.replace("{critical_pct}", f"{self.critical_pct:g}"))
        column, _, value = key.partition("_")
        if key in TIMING_VALUES:
            column, value = "timing", key
        label, meanings = VALUES.get(column, (VOCABULARY_LABELS.get(column, column), {}))
        meaning = meanings.get(value, UNKNOWN)
        return Markup("<code>{}</code> ({})").format(value, label), Markup(meaning)

    def use(self, key: str, text: str | None = None) -> Markup:
        """A link to the term's entry (which the glossary will hold); `text` is what the page shows."""
        self._used[key] = None
        shown = escape(text) if text is not None else self._entry(key)[0]
        return Markup('<a class="term" href="#{}">{}</a>').format(anchor(key), shown)

    def keys(self) -> list[str]:
        order = list(TERMS) + ["category_"] + [f"{p}_" for p in VOCABULARY_LABELS] + [f"{c}_" for c in VALUES]

        def rank(key: str) -> tuple[int, str]:
            if key in TERMS:
                return order.index(key), ""
            if key.startswith("category_") and key in self._defined:
                return order.index("category_"), ""
            prefix = "timing_" if key in TIMING_VALUES else key.partition("_")[0] + "_"
            return (order.index(prefix) if prefix in order else len(order)), key

        return sorted(self._used, key=rank)

    def entries(self) -> list[tuple[str, Markup, Markup]]:
        """(anchor, term, meaning) of every term used, in glossary order: what the page's glossary lists."""
        return [(anchor(key), *self._entry(key)) for key in self.keys()]
