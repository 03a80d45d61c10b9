"""Deploying onto a database that runs the older version of the system loses nothing and leaves
every rule holding."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt
PHONE = "+15555550100"


def legacy_sql() -> str:
    return (Path(__file__).resolve().parent / "fixtures" / "legacy_linkage.sql").read_text()


def test_deploy_upgrades_the_older_version_in_one_go_and_keeps_every_audit_row(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute(legacy_sql())
        event = w.event(db)
        person = w.user(db, PHONE)
        guest = w.guest(db, event, person, PHONE)
        old_delivery = w.deliver(db, w.message(db, event), guest, PHONE)
        assert w.delivery_user(db, old_delivery) == person
        history = db.execute(
            "select id::text, table_name, record_id, outcome::text from user_link_audit order by id"
        ).fetchall()
        assert history

        dbt_runner.run_dbt(
            ["run-operation", "deploy"], bare_app_db, target_path="target/pytest_upgrade"
        ).check()

        kept = db.execute(
            "select id, table_name, record_id, outcome from user_link_audit"
            " where audit_source = 'legacy' and id = any(%s) order by id",
            ([row[0] for row in history],),
        ).fetchall()
        assert kept == history
        assert db.execute("select get_feature_flag('ANYTHING_ELSE')").fetchone()[0] is False
        db.execute(
            "update feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS'"
        )
        assert (
            db.execute("select get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS')").fetchone()[0]
            is True
        )
        triggers = db.execute(
            "select tgname, pg_get_triggerdef(oid) from pg_trigger where tgname like 'trigger_%' order by 1"
        ).fetchall()
        assert [name for name, _ in triggers].count("trigger_message_deliveries_auto_link_user") == 1
        assert "FOR EACH ROW" in dict(triggers)["trigger_backfill_deliveries_on_guest_link"]

        # every rule holds afterwards: ambiguity, guest link backfill, audit shape
        w.guest(db, event, None, PHONE)
        ambiguous = w.deliver(db, w.message(db, event), None, PHONE)
        assert w.delivery_user(db, ambiguous) is None
        assert w.audit_rows(db, record_id=ambiguous)[0]["reason"] == "ambiguous_guests"
        late = w.guest(db, event, None, "+15555550111")
        pending = w.deliver(db, w.message(db, event), late, "+15555550111")
        db.execute("update event_guests set user_id = %s where id = %s", (w.user(db), late))
        w.sweep(db)
        assert w.delivery_user(db, pending) is not None
        assert w.linkable_null_count(db) == 0


def test_the_runbook_rollback_plan_works_after_the_upgrade(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute(legacy_sql())
        dbt_runner.run_dbt(
            ["run-operation", "deploy"], bare_app_db, target_path="target/pytest_upgrade"
        ).check()
        db.execute("alter table event_guests disable trigger trigger_backfill_deliveries_on_guest_link")
        db.execute("alter table message_deliveries disable trigger trigger_message_deliveries_auto_link_user")
        event = w.event(db)
        guest = w.guest(db, event, w.user(db), PHONE)
        delivery = w.deliver(db, w.message(db, event), guest, PHONE)
        assert w.delivery_user(db, delivery) is None
        db.execute("alter table message_deliveries enable trigger trigger_message_deliveries_auto_link_user")
        db.execute("update feature_flags set enabled = false where flag_name = 'LINK_USER_BY_PHONE'")
        skipped = w.deliver(db, w.message(db, event), guest, PHONE)
        assert w.delivery_user(db, skipped) is None
        assert w.audit_rows(db, record_id=skipped)[0]["outcome"] == "skipped"
