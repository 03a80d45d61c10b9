"""The audit's vocabulary is one list (macros/rules/linkage_audit_vocabulary.sql, in the database as
delivery_linkage.audit_vocabulary()): the dbt tests render it, the GX suite and the report's glossary
hold the same values, and a value outside it turns `dbt test` red — while nothing the linkage or the
app writes does."""

from __future__ import annotations

import json

import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage.project import project_dir
from delivery_linkage_devtools.testing import world as w

TARGET = "target/pytest_vocabulary"
SUITE = project_dir() / "gx" / "expectations" / "app_user_link_audit.json"


def vocabulary(db) -> dict[str, set]:
    rows = db.execute("select kind, value, table_name, outcome from delivery_linkage.audit_vocabulary()").fetchall()
    return {
        "table_name": {value for kind, value, _, _ in rows if kind == "table_name"},
        "outcome": {value for kind, value, _, _ in rows if kind == "outcome"},
        "reason": {value for kind, value, _, _ in rows if kind == "reason"},
        "table_and_outcome": {f"{table} / {outcome}" for kind, _, table, outcome in rows if kind == "reason"},
    }


def test_the_gx_suite_accepts_exactly_the_audit_vocabulary(db):
    suite = json.loads(SUITE.read_text())
    value_sets = {
        e["kwargs"]["column"]: set(e["kwargs"]["value_set"])
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set"
    }
    for column, values in vocabulary(db).items():
        assert value_sets[column] == values, column


def test_every_reason_belongs_to_a_table_name_and_an_outcome_of_the_vocabulary(db):
    known = vocabulary(db)
    for value, table_name, outcome in db.execute(
        "select value, table_name, outcome from delivery_linkage.audit_vocabulary() where kind = 'reason'"
    ).fetchall():
        assert table_name in known["table_name"] and outcome in known["outcome"], value


def dbt_test(settings, *selectors):
    return dbt_runner.run_dbt(["test", "--select", *selectors], settings, target_path=TARGET)


@pytest.mark.dbt
def test_an_app_setting_users_itself_keeps_dbt_test_green_and_an_unknown_value_turns_it_red(modeled_app_db, modeled_db):
    """The app sets a user with a plain UPDATE, and through the upsert writing excluded.user_id: what the
    audit records of it is in the vocabulary and `dbt test` stays green. An audit row outside the
    vocabulary (written by hand here) makes it fail: the test can fail."""
    db = modeled_db
    event = w.event(db)
    person, other = w.user(db), w.user(db)
    guest = w.guest(db, event, None, "+15555550100")
    delivery = w.deliver(db, w.message(db, event), guest, "+15555550100")
    db.execute("update message_deliveries set user_id = %s where id = %s", (other, delivery))
    w.set_flag(db, "LINK_USER_BY_PHONE", False)
    waiting = w.deliver(db, w.message(db, event), guest, "+15555550100")
    db.execute("update event_guests set user_id = %s where id = %s", (person, guest))
    w.set_flag(db, "LINK_USER_BY_PHONE", True)
    db.execute(
        "insert into message_deliveries (message_id, guest_id, phone_number, sms_status) "
        "select message_id, guest_id, phone_number, 'sent' from message_deliveries where id = %s "
        "on conflict (message_id, guest_id) do update set sms_status = excluded.sms_status, user_id = excluded.user_id",
        (waiting,),
    )
    assert w.delivery_user(db, waiting) == person
    selectors = ("stg_app__user_link_audit", "assert_audit_links_had_one_candidate")
    green = dbt_test(modeled_app_db, *selectors)
    assert green.returncode == 0, green.output[-3000:]

    db.execute(
        "insert into delivery_linkage.link_attempts (table_name, outcome, reason, record_ids) "
        "values ('message_deliveries', 'linked', 'a_reason_nobody_wrote_down', array[gen_random_uuid()])"
    )
    red = dbt_test(modeled_app_db, *selectors)
    assert red.returncode != 0 and "in_audit_vocabulary" in red.output
