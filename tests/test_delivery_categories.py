"""The delivery categories partition the total, in every output: on random worlds (guests linked or not,
removed or not, of the message's event or another; deliveries with the guest's user, another user or none,
naming a guest, none, or one that does not exist; messages of an event, of none, or no message), each
delivery is in exactly the category a plain statement of the rules gives, and the counts add up to the
total in the model (delivery_integrity), in `linkage check` (text and JSON) and in the report."""

from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from delivery_linkage import report
from delivery_linkage.cli import print_report
from delivery_linkage.operations import check as integrity
from delivery_linkage_devtools.testing import invariants
from delivery_linkage_devtools.testing import world as w

db_settings = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def worlds(draw):
    events = draw(st.integers(1, 3))
    users = draw(st.integers(0, 3))
    guests = draw(
        st.lists(
            st.tuples(
                st.integers(0, events - 1),  # event
                st.one_of(st.none(), st.integers(0, users - 1)) if users else st.none(),  # user
                st.booleans(),  # removed
            ),
            max_size=6,
        )
    )
    deliveries = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["none", "no_event"] + [f"event{k}" for k in range(events)]),  # message
                st.sampled_from(["none", "dangling"] + list(range(len(guests)))),  # guest
                st.sampled_from(["none", "guest_user"] + [f"user{k}" for k in range(users)]),  # delivery user
            ),
            max_size=14,
        )
    )
    return {"events": events, "users": users, "guests": guests, "deliveries": deliveries}


def expected_category(delivery_user, guest, message_event) -> str:
    """The categories as the lead's list states them, in plain Python."""
    if delivery_user is not None:
        if guest is None:
            return "linked_without_guest"
        return "linked_to_guest_user" if guest["user"] == delivery_user else "linked_to_other_user"
    if guest is None:
        return "null_without_guest"
    if guest["removed"]:
        return "null_guest_removed"
    if message_event is not None and message_event != guest["event"]:
        return "null_guest_other_event"
    return "linkable_null" if guest["user"] is not None else "null_guest_not_linked"


def build(db, world) -> dict[uuid.UUID, str]:
    """Writes the world with the linkage's triggers off (the categories are about what is stored, however
    it got there); returns each delivery's expected category."""
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    events = [db.execute("insert into events default values returning id").fetchone()[0] 
              for _ in range(world["events"])]
    users = [db.execute("insert into users default values returning id").fetchone()[0] for _ in range(world["users"])]
    guests = []
    for event, user, removed in world["guests"]:
        guest_id = db.execute(
            "insert into event_guests (event_id, user_id, removed_at) values (%s, %s, case when %s then now() end) "
            "returning id",
            (events[event], users[user] if user is not None else None, removed),
        ).fetchone()[0]
        guests.append({"id": guest_id, "event": events[event], "user": users[user] if user is not None else None,
                       "removed": removed})  # fmt: skip
    messages = {"none": (None, None), "no_event": (
        db.execute("insert into messages (event_id) values (null) returning id").fetchone()[0], None)}
    for k, event in enumerate(events):
        messages[f"event{k}"] = (
            db.execute("insert into messages (event_id) values (%s) returning id", (event,)).fetchone()[0], event)
    expected, seen = {}, set()
    for message_key, guest_key, user_key in world["deliveries"]:
        guest = guests[guest_key] if isinstance(guest_key, int) else None
        guest_id = guest["id"] if guest else (uuid.uuid4() if guest_key == "dangling" else None)
        message_id, message_event = messages[message_key]
        if (message_id, guest_id) in seen and message_id and guest_id:
            continue  # the app's unique (message_id, guest_id)
        seen.add((message_id, guest_id))
        if user_key == "guest_user":
            delivery_user = guest["user"] if guest else None
        else:
            delivery_user = users[int(user_key[4:])] if user_key.startswith("user") else None
        delivery = db.execute(
            "insert into message_deliveries (message_id, guest_id, user_id) values (%s, %s, %s) returning id",
            (message_id, guest_id, delivery_user),
        ).fetchone()[0]
        expected[delivery] = expected_category(delivery_user, guest, message_event)
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    return expected


@db_settings
@given(world=worlds())
def test_every_delivery_is_in_exactly_one_category_and_every_output_adds_up(modeled_db, world, capsys):
    schema = report.marts_schema()
    with modeled_db.transaction(force_rollback=True):
        expected = build(modeled_db, world)
        w.count_categories(modeled_db)  # what each dbt build does: count every delivery by category

        # the model: each delivery in the category the rules give; the counts add up to the total
        stored = dict(
            modeled_db.execute(f"select delivery_id, delivery_category from {schema}.delivery_link_status").fetchall()
        )
        assert stored == expected
        row = modeled_db.execute(f"select * from {schema}.delivery_integrity").fetchone()
        columns = [c.name for c in modeled_db.execute(f"select * from {schema}.delivery_integrity limit 0").description]
        figures = dict(zip(columns, row, strict=True))
        check = integrity.check(modeled_db)
        names = [category.name for category in check.categories]
        assert sum(figures[name] for name in names) == figures["total_deliveries"] == len(expected)
        assert {name: figures[name] for name in names} == {name: list(expected.values()).count(name) for name in names}

        # `linkage check`: the JSON's categories and the text's rows add up to the total
        as_json = check.as_dict()
        assert sum(as_json["categories"].values()) == as_json["total_deliveries"] == len(expected)
        assert as_json["inconsistent_deliveries"] == as_json["categories"]["linkable_null"]
        print_report(check)
        text = capsys.readouterr().out
        shown = {name: int(re.search(rf"│\s+{name}\s+│\s+([\d,]+)", text).group(1).replace(",", "")) for name in names}
        assert shown == as_json["categories"]

        # the report: the categories table adds up to the total it shows
        html = report.render(report.read(modeled_db, "test world"))
        table = re.search(r'<table id="categories-table">(.*?)</table>', html, re.S).group(1)
        counts = [int(n.replace(",", "")) for n in re.findall(r'<td class="number"[^>]*>([\d,]+)</td>', table)]
        total = re.search(r'id="categories-total">([\d,]+)<', table).group(1)
        assert len(counts) == len(names) and sum(counts) == int(total.replace(",", "")) == len(expected)


# a world with every category: the guests of two events (linked, not linked, removed; one of them queued),
# deliveries of a message of their event, of another event, of none, and no message
EVERY_CATEGORY = {
    "events": 2,
    "users": 1,
    "guests": [(0, 0, False), (0, None, False), (0, 0, True), (1, 0, False)],
    "deliveries": [
        ("event0", 0, "none"), ("no_event", 0, "none"), ("none", 0, "none"), ("event1", 0, "none"),
        ("event1", 3, "none"), ("event0", 3, "none"), ("event0", 1, "none"), ("event0", 2, "none"),
        ("event0", "none", "none"), ("event1", "dangling", "none"), ("event1", 3, "guest_user"),
        ("no_event", 3, "user0"), ("event0", "none", "user0"),
    ],
}  # fmt: skip


@db_settings
@given(world=worlds(), queued=st.sets(st.integers(0, 5)))
@example(world=EVERY_CATEGORY, queued={0})
def test_the_suites_linkable_null_query_finds_the_deliveries_the_models_call_linkable_null(modeled_db, world, queued):
    """The linkable-but-NULL query the suites and the developer tools assert on, written once
    (delivery_linkage_devtools.testing.invariants), finds on random worlds exactly the deliveries the
    models put in the categories linkable_null and linkable_null_awaiting_sweeper (delivery_link_status);
    of them, the ones no guest_link_queue entry explains are exactly the category linkable_null (the
    queued guests, drawn by position, enqueued now: younger than the sweep window)."""
    schema = report.marts_schema()
    with modeled_db.transaction(force_rollback=True):
        build(modeled_db, world)
        guests = [row[0] for row in modeled_db.execute("select id from public.event_guests order by ctid")]
        for position in sorted(queued & set(range(len(guests)))):
            enqueue = "insert into delivery_linkage.guest_link_queue (guest_id) values (%s)"
            modeled_db.execute(enqueue, (guests[position],))
        in_category: dict[str, set[str]] = {"linkable_null": set(), "linkable_null_awaiting_sweeper": set()}
        for delivery, category in modeled_db.execute(
            f"select delivery_id, delivery_category from {schema}.delivery_link_status"
        ):
            in_category.setdefault(category, set()).add(str(delivery))
        defects, awaiting = in_category["linkable_null"], in_category["linkable_null_awaiting_sweeper"]
        assert invariants.linkable_null(modeled_db) == defects | awaiting
        assert invariants.unexplained_linkable_null(modeled_db) == defects
        assert invariants.linkable_null_count(modeled_db) == len(defects | awaiting)
        assert invariants.unexplained_linkable_null_count(modeled_db) == len(defects)


def test_the_category_descriptions_of_the_docs_are_the_macros(modeled_db):
    """models/docs/columns.md repeats each category's meaning for its count column: the same words as the
    macro linkage_delivery_categories (read back through the model delivery_categories)."""
    from delivery_linkage.project import project_dir

    docs = (project_dir() / "models" / "docs" / "columns.md").read_text()
    categories = modeled_db.execute(
        f"select delivery_category, category_description from {report.marts_schema()}.delivery_categories "
        "order by category_order"
    ).fetchall()
    assert len(categories) == 9
    for name, description in categories:
        block = re.search(rf"{{% docs column__{name} %}}\n(.*?)\n{{% enddocs %}}", docs, re.S)
        assert block and block.group(1).endswith(description), name


def test_a_database_without_deliveries_has_every_category_at_zero(modeled_db):
    check = integrity.check(modeled_db)
    assert check.total_deliveries == 0 and [c.deliveries for c in check.categories] == [0] * 9
    assert (check.status, check.inconsistency_percentage) == ("healthy", 0)
