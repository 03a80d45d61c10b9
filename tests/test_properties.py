"""Property-based: normalize_phone against phonenumbers; link_user_by_phone, the insert trigger and the set-based
rules against a pure-Python model of the rules."""

from __future__ import annotations

import re
import uuid

import phonenumbers
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from delivery_linkage_devtools.testing import world as w

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SEPARATORS = st.sampled_from(["", " ", ".", "-", "(", ")"])
db_settings = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def formatted_us_numbers(draw):
    area = draw(st.integers(200, 999))
    exchange = draw(st.integers(200, 999))
    line = draw(st.integers(0, 9999))
    digits = f"{area}{exchange}{line:04d}"
    parts = [digits[:3], digits[3:6], digits[6:]]
    joined = "".join(p + draw(SEPARATORS) for p in parts)
    prefix = draw(st.sampled_from(["", "1", "1 ", "1-", "+1", "+1 "]))
    return prefix + joined


@db_settings
@given(phone=formatted_us_numbers())
def test_normalize_phone_agrees_with_phonenumbers_on_us_numbers(db, phone):
    ours = db.execute("select normalize_phone(%s)", (phone,)).fetchone()[0]
    expected = phonenumbers.format_number(phonenumbers.parse(phone, "US"), phonenumbers.PhoneNumberFormat.E164)
    assert ours == expected


@db_settings
@given(phone=st.one_of(st.text(max_size=40), st.text(alphabet="0123456789+ .-()\u200b\uff0b\u0665", max_size=25)))
def test_normalize_phone_returns_e164_or_null_and_is_idempotent(db, phone):
    phone = phone.replace("\x00", "")
    ours, again = db.execute(
        "select normalize_phone(%s), normalize_phone(normalize_phone(%s))", (phone, phone)
    ).fetchone()
    assert ours is None or E164.match(ours)
    assert again == ours
    if ours is not None and ours.startswith("+1") and len(ours) == 12:
        assert phonenumbers.format_number(phonenumbers.parse(ours, None), phonenumbers.PhoneNumberFormat.E164) == ours


PHONES = ["+15555550101", "+15555550102", "+15555550103"]
FORMATS = [lambda p: p, lambda p: f"({p[2:5]}) {p[5:8]}-{p[8:]}", lambda p: p[2:], lambda p: "garbage"]


@st.composite
def small_worlds(draw):
    users = draw(st.lists(st.sampled_from(PHONES + [None]), min_size=0, max_size=4))
    guests = draw(
        st.lists(
            st.tuples(
                st.one_of(st.none(), st.integers(0, max(len(users) - 1, 0))) if users else st.none(),
                st.sampled_from(PHONES + [None]),
                st.integers(0, 3),  # format
                st.booleans(),  # removed
            ),
            max_size=5,
        )
    )
    return {
        "users": users,
        "guests": guests,
        "phone": draw(st.sampled_from(PHONES)),
        "phone_format": draw(st.integers(0, 3)),
        "linking": draw(st.booleans()),
        "fallback": draw(st.booleans()),
        # the guest a delivery names (an index into guests), or none
        "named": draw(st.one_of(st.none(), st.integers(0, 4))),
        # that guest is of another event than the delivery's message (hole 7: never linked across events)
        "named_elsewhere": draw(st.booleans()),
    }


def elsewhere(world, index):
    """The guest at index is the named one, moved to another event."""
    return bool(world.get("named_elsewhere")) and world["named"] == index


def model(world, guest_ids, user_ids):
    """The rules for a delivery that names no guest, written plainly."""

    def norm(phone, fmt):
        return None if phone is None or fmt == 3 else phone

    if not world["linking"]:
        return (None, None, "skipped", "feature_disabled", 0)
    phone = norm(world["phone"], world["phone_format"])
    if phone is None:
        return (None, None, "no_match", "invalid_phone", 0)
    candidates = [
        (guest_ids[i], user_ids[u] if u is not None else None)
        for i, (u, p, fmt, removed) in enumerate(world["guests"])
        if not removed and norm(p, fmt) == phone and not elsewhere(world, i)
    ]
    if len(candidates) > 1:
        return (None, None, "no_match", "ambiguous_guests", len(candidates))
    if len(candidates) == 1 and candidates[0][1] is not None:
        return (candidates[0][1], candidates[0][0], "linked", "guest_phone", 1)
    if world["fallback"]:
        users = [user_ids[i] for i, p in enumerate(world["users"]) if p == phone]
        if len(users) == 1:
            return (users[0], candidates[0][0] if candidates else None, "linked", "user_phone", 1)
        if len(users) > 1:
            return (None, candidates[0][0] if candidates else None, "no_match", "ambiguous_users", len(users))
    if candidates:
        return (None, candidates[0][0], "no_match", "guest_not_linked", 1)
    return (None, None, "no_match", "no_candidate", 0)


def model_delivery_user(world, guest_ids, user_ids):
    """The user the rules give a delivery of the event with the world's phone, naming the world's guest."""
    named = world["named"] if world["named"] is not None and world["named"] < len(guest_ids) else None
    if named is None:
        return model(world, guest_ids, user_ids)[0]
    if not world["linking"] or elsewhere(world, named):
        return None
    user_index, _, _, removed = world["guests"][named]
    if user_index is not None and not removed:
        return user_ids[user_index]  # guest record
    if not world["fallback"]:
        return None
    user = model(world, guest_ids, user_ids)[0]
    candidates = [
        guest_ids[i]
        for i, (_, p, fmt, gone) in enumerate(world["guests"])
        if not gone and p == world["phone"] and fmt != 3
    ]
    if world["phone_format"] == 3 or len(candidates) > 1 or (candidates and candidates[0] != guest_ids[named]):
        return None  # not a phone, ambiguous guests, or the phone is another guest's
    return user  # the users' phone (the named guest is the phone's one guest, unlinked, or there is none)


def build_world(db, world):
    """The world's flags, event, users and guests (inside the caller's transaction): (event, user ids, guest ids)."""
    db.execute("update feature_flags set enabled = %s where flag_name = 'LINK_USER_BY_PHONE'", (world["linking"],))
    db.execute(
        "update feature_flags set enabled = %s where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'",
        (world["fallback"],),
    )
    event = db.execute("insert into events default values returning id").fetchone()[0]
    other_event = db.execute("insert into events default values returning id").fetchone()[0]
    user_ids = [
        db.execute("insert into users (phone) values (%s) returning id", (p,)).fetchone()[0] for p in world["users"]
    ]
    guest_ids = []
    for index, (user_index, phone, fmt, removed) in enumerate(world["guests"]):
        shown = None if phone is None else FORMATS[fmt](phone)
        guest_ids.append(
            db.execute(
                "insert into event_guests (event_id, user_id, phone, removed_at) "
                "values (%s, %s, %s, case when %s then now() end) returning id",
                (
                    other_event if elsewhere(world, index) else event,
                    user_ids[user_index] if user_index is not None else None,
                    shown,
                    removed,
                ),
            ).fetchone()[0]
        )
    return event, user_ids, guest_ids


def world_of(users, guests, named, fallback=True, phone_format=0, named_elsewhere=False):
    """A small world written by hand (the phone asked is PHONES[0])."""
    return {
        "users": users,
        "guests": guests,
        "phone": PHONES[0],
        "phone_format": phone_format,
        "linking": True,
        "fallback": fallback,
        "named": named,
        "named_elsewhere": named_elsewhere,
    }


P1, P2 = PHONES[0], PHONES[1]


@db_settings
@given(world=small_worlds())
# the branches of the phone rules for a named guest, each once whatever hypothesis draws
@example(world=world_of([P1], [(None, P2, 0, False), (None, P1, 0, False)], named=0))  # the phone is another guest's
@example(world=world_of([P1], [(0, P1, 0, True), (None, P1, 1, False)], named=0))  # removed, phone another guest's
@example(world=world_of([P1], [(None, P1, 2, False)], named=0))  # its own phone, unlinked: the user's phone
@example(world=world_of([P1], [(None, P1, 2, False)], named=0, fallback=False))  # ... only with the fallback
@example(world=world_of([P1, P1], [(None, P1, 0, False)], named=0))  # ambiguous users
@example(world=world_of([P2], [(0, P1, 1, False)], named=None))  # naming no guest: the phone's guest's user
@example(world=world_of([P1], [(None, P1, 0, False), (None, P1, 1, False)], named=None))  # ambiguous guests
@example(world=world_of([P1], [(0, P1, 0, False)], named=0, named_elsewhere=True))  # linked guest of another event
@example(world=world_of([P1], [(None, P1, 0, False)], named=0, named_elsewhere=True))  # ... unlinked: not by phone
def test_the_insert_trigger_and_the_set_based_rules_link_a_delivery_as_the_model_of_the_rules_says(db, world):
    """The insert trigger decides a row's phone rules itself (two index probes), apart from
    decide_delivery_links, and its statement's audit classifies the row a third way: all three must
    give the model's user, with or without a guest named."""
    with db.transaction(force_rollback=True):
        event, user_ids, guest_ids = build_world(db, world)
        named = guest_ids[world["named"]] if world["named"] is not None and world["named"] < len(guest_ids) else None
        message = db.execute("insert into messages (event_id) values (%s) returning id", (event,)).fetchone()[0]
        asked = FORMATS[world["phone_format"]](world["phone"])
        expected = model_delivery_user(world, guest_ids, user_ids)
        inserted = db.execute(
            "insert into message_deliveries (message_id, guest_id, phone_number) values (%s, %s, %s) "
            "returning id, user_id",
            (message, named, asked),
        ).fetchone()
        decided, outcome, reason = db.execute(
            "select linked_user_id, outcome, reason from delivery_linkage.decide_delivery_links(array[%s], "
            "array[%s]::uuid[], array[%s]::uuid[], array[null]::uuid[], array[%s])",
            (inserted[0], named, message, asked),
        ).fetchone()
        assert (inserted[1], decided) == (expected, expected)
        # the statement's audit names the same outcome, rule and user
        (audit,) = w.audit_rows(db, record_id=inserted[0])
        assert (audit["outcome"], audit["reason"], audit["linked_user_id"]) == (outcome, reason, expected)


@db_settings
@given(world=small_worlds())
def test_link_user_by_phone_matches_the_model_of_the_rules(db, world):
    with db.transaction(force_rollback=True):
        event, user_ids, guest_ids = build_world(db, world)
        asked = FORMATS[world["phone_format"]](world["phone"])
        got = db.execute("select * from link_user_by_phone(%s, %s)", (event, asked)).fetchone()
        assert tuple(got) == model(world, guest_ids, user_ids)
        assert isinstance(event, uuid.UUID)
