"""Bad input (hypothesis): whatever the app writes, its write succeeds, nothing raises from the
linkage, and each attempt is audited once with a reason from the known set.

Generated: phones (unicode digits, full-width plus and digits, zero-width characters, control
characters, very long strings, empty, NULL, arbitrary text), deliveries with a missing guest,
message or event, guests with NULL phones, feature_flags with rows missing, through every write
path (single row, multi-row, the app's upsert RPC, as the `authenticated` role, a phone update).
Each example commits (a delivery left for a guest that is not linkable yet is audited at its
commit), is checked, and is then cleared away with the audit and the flags as they were, so examples
do not see each other.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import reliability_support as rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.reliability

EXAMPLES = 150
VALID = "+15555550123"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f\x85"


def fullwidth(digits: str) -> str:
    return "\uff0b" + "".join(chr(0xFF10 + int(d)) for d in digits)


def sprinkle(draw, text: str, alphabet: str) -> str:
    positions = draw(st.lists(st.integers(0, len(text)), max_size=4))
    for position in sorted(positions, reverse=True):
        text = text[:position] + draw(st.sampled_from(alphabet)) + text[position:]
    return text


@st.composite
def phones(draw):
    kind = draw(
        st.sampled_from(
            [
                "null",
                "empty",
                "blank",
                "valid",
                "formatted",
                "unicode_digits",
                "fullwidth",
                "zero_width",
                "control",
                "very_long",
                "text",
                "digits",
            ]
        )
    )
    digits = draw(st.from_regex(r"[0-9]{10,11}", fullmatch=True))
    match kind:
        case "null":
            return kind, None
        case "empty":
            return kind, ""
        case "blank":
            return kind, draw(st.text(alphabet=" \t\n\u00a0\u3000", min_size=1, max_size=5))
        case "valid":
            return kind, VALID
        case "formatted":
            return kind, f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        case "unicode_digits":
            return kind, draw(st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=16))
        case "fullwidth":
            return kind, fullwidth(digits)
        case "zero_width":
            return kind, sprinkle(draw, VALID, ZERO_WIDTH)
        case "control":
            return kind, sprinkle(draw, draw(st.sampled_from([VALID, digits, ""])), CONTROL)
        case "very_long":
            return kind, draw(st.sampled_from(["5", "+1", "٥", "\u200b", "x"])) * draw(st.integers(1000, 20000))
        case "digits":
            return kind, digits
        case _:
            return kind, draw(st.text(max_size=60)).replace("\x00", "")


@st.composite
def cases(draw):
    return {
        "phone": draw(phones()),
        "guest": draw(
            st.sampled_from(["none", "missing", "linked", "linked_same_phone", "unlinked_null_phone", "removed_linked"])
        ),
        "message": draw(st.sampled_from(["existing", "none", "missing", "no_event"])),
        "flags": draw(
            st.sampled_from(
                ["default", "no_link_flag_row", "no_fallback_flag_row", "no_rows", "fallback_on", "linking_off"]
            )
        ),
        "path": draw(st.sampled_from(["single", "multi", "upsert", "as_authenticated", "phone_update"])),
        "link_guest_after": draw(st.booleans()),
    }


def expected(case, event_known, linking_enabled):
    """What the rules make certain of (None: any known reason will do)."""
    if not linking_enabled:
        return ("skipped", "feature_disabled")
    if case["guest"] in ("linked", "linked_same_phone"):
        return ("linked", "guest_record")
    if case["guest"] in ("none", "missing") and not event_known:
        return ("no_match", "no_event")
    return None


@pytest.fixture
def bad_db(db):
    # a missing message is the app's own foreign key's business: drop it to see what the linkage does
    db.execute("alter table message_deliveries drop constraint message_deliveries_message_id_fkey")
    return db


def clear_example(db):
    """What an example wrote, and the flags as the deploy left them (the audit's storage written directly:
    nothing else may delete from it)."""
    db.execute("delete from message_deliveries")
    db.execute("delete from delivery_linkage.link_attempts")
    db.execute("delete from delivery_linkage.feature_flags")
    db.execute(
        "insert into delivery_linkage.feature_flags (flag_name, enabled) "
        "values ('LINK_USER_BY_PHONE', true), ('LINK_USER_BY_PHONE_FALLBACK_TO_USERS', false)"
    )


def run_case(db, case):
    warnings = rs.WarningCollector()
    db.add_notice_handler(warnings)
    try:
        return check_case(db, case, warnings)
    finally:
        db.remove_notice_handler(warnings)
        clear_example(db)


def check_case(db, case, warnings):
    kind, phone = case["phone"]
    outcomes = []
    with db.transaction():
        event = db.execute("insert into events default values returning id").fetchone()[0]
        person = db.execute("insert into users (phone) values (null) returning id").fetchone()[0]
        phone_owner = db.execute("insert into users (phone) values (%s) returning id", (VALID,)).fetchone()[0]
        guests = {
            "none": None,
            "missing": uuid.uuid4(),
            "linked": db.execute(
                "insert into event_guests (event_id, user_id, phone) values (%s, %s, %s) returning id",
                (event, person, "+15555550999"),
            ).fetchone()[0],
            "linked_same_phone": None,
            "unlinked_null_phone": db.execute(
                "insert into event_guests (event_id, phone) values (%s, null) returning id", (event,)
            ).fetchone()[0],
            "removed_linked": db.execute(
                "insert into event_guests (event_id, user_id, phone, removed_at) "
                "values (%s, %s, null, now()) returning id",
                (event, person),
            ).fetchone()[0],
        }
        if case["guest"] == "linked_same_phone":
            guests["linked_same_phone"] = db.execute(
                "insert into event_guests (event_id, user_id, phone) values (%s, %s, %s) returning id",
                (event, person, phone),
            ).fetchone()[0]
        guest = guests[case["guest"]]
        message = {
            "existing": lambda: db.execute(
                "insert into messages (event_id) values (%s) returning id", (event,)
            ).fetchone()[0],
            "none": lambda: None,
            "missing": uuid.uuid4,
            "no_event": lambda: db.execute("insert into messages (event_id) values (null) returning id").fetchone()[0],
        }[case["message"]]()
        match case["flags"]:
            case "no_link_flag_row":
                db.execute("delete from feature_flags where flag_name = 'LINK_USER_BY_PHONE'")
            case "no_fallback_flag_row":
                db.execute("delete from feature_flags where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'")
            case "no_rows":
                db.execute("delete from feature_flags")
            case "fallback_on":
                db.execute(
                    "update feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'"
                )
            case "linking_off":
                db.execute("update feature_flags set enabled = false where flag_name = 'LINK_USER_BY_PHONE'")
        linking_enabled = case["flags"] not in ("no_link_flag_row", "no_rows", "linking_off")
        event_known = case["message"] == "existing" or case["guest"] not in ("none", "missing")

        delivery = uuid.uuid4()
        audits_expected = {}  # delivery id -> audit rows it must have (the app-set one: none)
        insert = "insert into message_deliveries (id, message_id, guest_id, phone_number, user_id) values "
        match case["path"]:
            case "single":
                db.execute(insert + "(%s, %s, %s, %s, null)", (delivery, message, guest, phone))
            case "multi":
                no_guest, app_set = uuid.uuid4(), uuid.uuid4()
                db.execute(
                    insert + "(%s, %s, %s, %s, null), (%s, %s, null, %s, null), (%s, %s, null, %s, %s)",
                    (delivery, message, guest, phone, no_guest, message, phone, app_set, message, phone, person),
                )
                audits_expected[app_set] = 0
            case "upsert":
                # the second call is the app's ON CONFLICT update (or, without a message or guest, a new row)
                delivery = db.execute("select upsert_message_delivery(%s, %s, %s)", (message, guest, phone)).fetchone()[
                    0
                ]
                db.execute("select upsert_message_delivery(%s, %s, %s, 'sent')", (message, guest, phone))
            case "as_authenticated":
                db.execute("set local role authenticated")
                db.execute(insert + "(%s, %s, %s, %s, null)", (delivery, message, guest, phone))
                db.execute("reset role")
            case "phone_update":
                db.execute(insert + "(%s, %s, %s, null, null)", (delivery, message, guest))
                linked_at_insert = db.execute(
                    "select user_id is not null from message_deliveries where id = %s", (delivery,)
                ).fetchone()[0]
                db.execute("update message_deliveries set phone_number = %s where id = %s", (phone, delivery))
                # the phone change is a second attempt when it leaves the delivery without a user
                audits_expected[delivery] = 1 if linked_at_insert or phone is None else 2

    # committed, so every attempt is audited (those left for their guest at the commit); this example's
    # deliveries are the only ones in the table: each is checked with its audit
    for attempt, user, rows in db.execute(
        "select d.id, d.user_id,"
        " coalesce(array_agg(array[a.outcome, a.reason, a.linked_user_id::text]"
        " order by split_part(a.id, '.', 1)::bigint, split_part(a.id, '.', 2)::integer)"
        " filter (where a.id is not null), '{}') from message_deliveries d"
        " left join user_link_audit a on a.record_id = d.id and a.table_name = 'message_deliveries'"
        " group by d.id, d.user_id"
    ).fetchall():
        assert len(rows) == audits_expected.get(attempt, 1), (case, rows)
        if not rows:
            continue
        outcome, reason, linked_user = rows[-1]
        assert outcome in rs.vocabulary(db, "outcome") and reason in rs.vocabulary(db, "reason"), rows
        assert (outcome == "linked") == (user is not None) == (linked_user is not None), (case, rows, user)
        assert user in (None, person, phone_owner), (case, user)
        want = expected(case, event_known, linking_enabled)
        if attempt == delivery and want is not None and case["path"] != "phone_update":
            assert (outcome, reason) == want, (case, rows)
        outcomes.append((kind, outcome, reason))

    # guests with NULL phones link too: their deliveries are backfilled, one audit row each
    if case["link_guest_after"] and case["guest"] == "unlinked_null_phone":
        db.execute("update event_guests set user_id = %s, phone = %s where id = %s", (person, phone, guest))
        assert db.execute("select delivery_linkage.sweep_guest_link_queue()").fetchone()[0] == 0
        user = db.execute("select user_id from message_deliveries where id = %s", (delivery,)).fetchone()[0]
        assert user == (person if linking_enabled else None)
        backfilled = db.execute(
            "select outcome from user_link_audit where record_id = %s and table_name = 'message_deliveries_backfill'",
            (delivery,),
        ).fetchall()
        assert [r[0] for r in backfilled] == (["linked"] if linking_enabled else ["skipped"])
    assert not warnings.messages, (case, warnings.messages)
    return outcomes


# every kind of phone at least once, whatever hypothesis draws
EXPLICIT = [
    ("null", None),
    ("empty", ""),
    ("blank", " \t "),
    ("unicode_digits", "\u0665" * 10),
    ("fullwidth", fullwidth("5555550123")),
    ("zero_width", "+1555\u200b555\u200d0123"),
    ("control", "+1 555 555 0123\x07\x1b"),
    ("very_long", "5" * 20000),
    ("text", "'; drop table users; --"),
    ("text", "\U0001f642" * 40),
    ("formatted", "(555) 555-0123"),
]
PATHS = ["single", "multi", "upsert", "as_authenticated", "phone_update"]


def test_generated_bad_input_never_fails_a_write_and_every_attempt_is_audited_with_a_known_reason(bad_db, scale):
    tried, cases_run = [], []

    def check(case):
        cases_run.append(case)
        try:
            tried.extend(run_case(bad_db, case))
        except psycopg.Error as error:  # a write failed, or the linkage raised
            pytest.fail(f"{type(error).__name__} for {case!r}: {error}")

    for number, phone in enumerate(EXPLICIT):
        check(
            {
                "phone": phone,
                "guest": ["none", "unlinked_null_phone", "linked_same_phone"][number % 3],
                "message": "existing",
                "flags": "default",
                "path": PATHS[number % len(PATHS)],
                "link_guest_after": True,
            }
        )
    settings(max_examples=EXAMPLES * scale, deadline=None, suppress_health_check=list(HealthCheck))(
        given(case=cases())(check)
    )()
    rs.add("bad_input.cases", len(cases_run))
    rs.add("bad_input.attempts", len(tried))
    assert {kind for kind, _ in EXPLICIT} <= {kind for kind, _, _ in tried}
