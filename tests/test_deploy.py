"""Deploy safety: idempotent, no lock when unchanged, all or nothing under a lock timeout,
adopts what exists."""

from __future__ import annotations

import psycopg
import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt


def deploy(settings, variables=None, target="target/pytest_deploy"):
    return dbt_runner.run_dbt(["run-operation", "deploy"], settings, variables=variables, target_path=target)


def deployments(db):
    return db.execute("select count(*) from delivery_linkage.linkage_deployments").fetchone()[0]


def test_redeploy_takes_no_lock_when_unchanged(app_db, db):
    with psycopg.connect(app_db.conninfo(), autocommit=True) as holder:
        holder.execute("begin")
        holder.execute("lock table message_deliveries, event_guests, users in access exclusive mode")
        # the holder keeps every app table until the deploy returns: a deploy that asked for any of
        # them would fail on its lock_timeout instead of succeeding
        result = deploy(app_db)
        holder.execute("rollback")
    result.check()
    assert deployments(db) == 1


def test_changed_deploy_against_a_locked_table_fails_fast_and_leaves_nothing_half_deployed(app_db, db):
    db.execute("drop trigger trigger_message_deliveries_auto_link_user on message_deliveries")
    db.execute(
        "create or replace function get_feature_flag(flag_name text) returns boolean "
        "language sql as 'select true'"
    )
    with psycopg.connect(app_db.conninfo(), autocommit=True) as holder:
        holder.execute("begin")
        holder.execute("lock table message_deliveries in access share mode")
        holder.execute("lock table message_deliveries in share mode")
        # the holder keeps its lock until the deploy returns: only the deploy's own lock_timeout ends it
        result = deploy(app_db, variables={"linkage_lock_timeout": "1s"})
        holder.execute("rollback")
    assert result.returncode != 0
    assert "lock timeout" in result.output
    # nothing of the failed deploy stuck: the hand-made get_feature_flag is still there, no new version
    assert db.execute("select get_feature_flag('NO_SUCH_FLAG')").fetchone()[0] is True
    assert deployments(db) == 1
    deploy(app_db).check()
    assert db.execute("select get_feature_flag('NO_SUCH_FLAG')").fetchone()[0] is False
    assert deployments(db) == 2
    triggers = {r[0] for r in db.execute("select tgname from pg_trigger where not tgisinternal").fetchall()}
    assert "trigger_message_deliveries_auto_link_user" in triggers


def test_redeploy_keeps_a_disabled_trigger_disabled(app_db, db):
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    db.execute("drop function delivery_linkage.decide_delivery_links(uuid[], uuid[], uuid[], uuid[], text[]) cascade")
    deploy(app_db).check()
    states = dict(
        db.execute(
            "select tgname, tgenabled from pg_trigger where not tgisinternal and tgname like 'trigger\\_%' "
            "and tgrelid in ('message_deliveries'::regclass, 'event_guests'::regclass)"
        ).fetchall()
    )
    assert states and set(states.values()) == {"D"}


def test_operator_flag_values_are_never_overwritten(app_db, db):
    w.set_flag(db, "LINK_USER_BY_PHONE", False)
    w.set_flag(db, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS", True)
    db.execute("update delivery_linkage.linkage_deployments set version_hash = 'older'")
    deploy(app_db).check()
    flags = dict(db.execute("select flag_name, enabled from feature_flags").fetchall())
    assert flags == {"LINK_USER_BY_PHONE": False, "LINK_USER_BY_PHONE_FALLBACK_TO_USERS": True}


def test_existing_feature_flags_table_is_adopted(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute(
            "create table feature_flags "
            "(id serial primary key, flag_name varchar(100) unique, enabled boolean not null)"
        )
        db.execute(
            "insert into feature_flags (flag_name, enabled) "
            "values ('LINK_USER_BY_PHONE', false), ('OTHER', true)"
        )
        deploy(bare_app_db).check()
        flags = dict(db.execute("select flag_name, enabled from feature_flags").fetchall())
    assert flags == {
        "LINK_USER_BY_PHONE": False,
        "OTHER": True,
        "LINK_USER_BY_PHONE_FALLBACK_TO_USERS": False,
    }


def test_feature_flags_table_of_another_shape_stops_the_deploy_with_a_clear_message(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute("create table feature_flags (name text primary key, value text)")
        result = deploy(bare_app_db)
        assert result.returncode != 0
        assert "feature_flags exists but has another shape" in result.output
        assert db.execute("select to_regclass('user_link_audit')").fetchone()[0] is None


def link_decision(conn, event, phone) -> dict:
    """What link_user_by_phone decides for this event and phone."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute("select * from link_user_by_phone(%s, %s)", (event, phone)).fetchone()


def deploy_over_flags_held_twice(settings, values):
    """An app database whose own feature_flags table (no unique name) holds both linkage flags twice,
    then the linkage deployed onto it by dbt."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as db:
        db.execute("create table feature_flags (flag_name text, enabled boolean, description text)")
        for flag_name in ("LINK_USER_BY_PHONE", "LINK_USER_BY_PHONE_FALLBACK_TO_USERS"):
            for value in values:
                db.execute("insert into feature_flags (flag_name, enabled) values (%s, %s)", (flag_name, value))
    deploy(settings, target="target/pytest_flags_twice").check()


@pytest.mark.parametrize("values", [(False, True), (True, False)], ids=["off_then_on", "on_then_off"])
def test_a_flag_held_twice_in_an_adopted_table_is_read_one_way_by_the_insert_the_audit_and_get_feature_flag(
    bare_app_db, values
):
    deploy_over_flags_held_twice(bare_app_db, values)
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        linking = db.execute("select get_feature_flag('LINK_USER_BY_PHONE')").fetchone()[0]
        event = w.event(db)
        person = w.user(db, "+15555550100")
        guest = w.guest(db, event, person, "+15555550100")
        delivery = w.deliver(db, w.message(db, event), guest, "+15555550100")
        decision = link_decision(db, event, "+15555550100")

        # a guest linked later: the backfill reads LINK_USER_BY_PHONE the same way
        late_guest = w.guest(db, event, None, "+15555550155")
        late_delivery = w.deliver(db, w.message(db, event), late_guest, "+15555550155")
        late_person = w.user(db)
        db.execute("update event_guests set user_id = %s where id = %s", (late_person, late_guest))

        # linking on (both its rows), the fallback flag still held twice: a delivery naming no guest, to
        # the phone of exactly one user, is the users-phone fallback's case
        w.set_flag(db, "LINK_USER_BY_PHONE", True)
        fallback = db.execute("select get_feature_flag('LINK_USER_BY_PHONE_FALLBACK_TO_USERS')").fetchone()[0]
        phone_user = w.user(db, "+15555550177")
        phone_delivery = w.deliver(db, w.message(db, event), None, "+15555550177")
        phone_decision = link_decision(db, event, "+15555550177")

        # every reader, side by side, so a failure shows each one that disagrees
        observed = {
            "insert links": w.delivery_user(db, delivery) == person,
            "insert audit": [(r["outcome"], r["reason"]) for r in w.audit_rows(db, record_id=delivery)],
            "link_user_by_phone": decision["outcome"],
            "backfill links": w.delivery_user(db, late_delivery) == late_person,
            "fallback: insert links": w.delivery_user(db, phone_delivery) == phone_user,
            "fallback: insert audit": [
                (r["reason"], r["phone_fallback_enabled"]) for r in w.audit_rows(db, record_id=phone_delivery)
            ],
            "fallback: link_user_by_phone": phone_decision["reason"],
        }
        expected = {
            "insert links": linking,
            "insert audit": [("linked", "guest_record") if linking else ("skipped", "feature_disabled")],
            "link_user_by_phone": "linked" if linking else "skipped",
            "backfill links": linking,
            "fallback: insert links": fallback,
            "fallback: insert audit": [("user_phone" if fallback else "no_candidate", fallback)],
            "fallback: link_user_by_phone": "user_phone" if fallback else "no_candidate",
        }
        assert observed == expected, f"get_feature_flag says {linking=}, {fallback=}"


def test_deploy_never_changes_existing_deliveries(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        event = w.event(db)
        guest = w.guest(db, event, w.user(db), "+15555550100")
        delivery = w.deliver(db, w.message(db, event), guest, "+15555550100")
        deploy(bare_app_db).check()
        assert w.delivery_user(db, delivery) is None
        assert w.linkable_null_count(db) == 1


def test_linkage_deploy_false_deploys_nothing(bare_app_db):
    deploy(bare_app_db, variables={"linkage_deploy": False}).check()
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        assert db.execute("select to_regprocedure('link_user_by_phone(uuid, text)')").fetchone()[0] is None


def test_dbt_run_deploys_from_on_run_start_with_the_example_profile(bare_app_db):
    result = dbt_runner.run_dbt(["run"], bare_app_db, target_path="target/pytest_run")
    result.check()
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        triggers = {
            r[0] for r in db.execute("select tgname from pg_trigger where not tgisinternal").fetchall()
        }
        assert {
            "trigger_message_deliveries_auto_link_user",
            "trigger_backfill_deliveries_on_guest_link",
        } <= triggers
        event = w.event(db)
        person = w.user(db)
        guest = w.guest(db, event, person, None)
        assert w.delivery_user(db, w.deliver(db, w.message(db, event), guest, None)) == person
    again = dbt_runner.run_dbt(["run"], bare_app_db, target_path="target/pytest_run")
    again.check()
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        assert deployments(db) == 1


def test_two_first_deploys_at_once_serialize_and_the_second_does_nothing(bare_app_db):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda n: deploy(bare_app_db, target=f"target/pytest_deploy_twice_{n}"), range(2))
        )
    for result in results:
        result.check()
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        assert deployments(db) == 1


def test_a_missing_app_table_stops_the_deploy_with_one_line_naming_schema_and_database(bare_app_db):
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        db.execute("drop table message_deliveries")
    result = deploy(bare_app_db)
    assert result.returncode != 0
    expected = f"delivery_linkage: app table public.message_deliveries not found in database {bare_app_db.dbname}"
    assert expected in result.output


def test_a_deleted_flag_row_is_restored_by_the_next_unchanged_deploy(app_db, db):
    db.execute("delete from feature_flags where flag_name = 'LINK_USER_BY_PHONE'")
    assert db.execute("select get_feature_flag('LINK_USER_BY_PHONE')").fetchone()[0] is False
    deploy(app_db).check()
    assert db.execute("select get_feature_flag('LINK_USER_BY_PHONE')").fetchone()[0] is True


def test_indexes_on_large_tables_are_deferred_and_linkage_indexes_builds_the_missing_ones(bare_app_db):
    from delivery_linkage.operations import indexes

    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as db:
        # the app already has an equivalent of one of them under its own name
        db.execute("create index app_own_unlinked_idx on message_deliveries (id) where user_id is null")
        deploy(bare_app_db, variables={"linkage_inline_index_max_rows": -1}).check()
        deferred = {
            r[0]
            for r in db.execute("select index_name from delivery_linkage.linkage_indexes where deferred_at is not null")
        }
        assert "message_deliveries_unlinked_id_idx" not in deferred  # the app's equivalent counts
        assert "message_deliveries_unlinked_guest_id_idx" in deferred
        assert indexes.build_missing(db, report=lambda _: None) == len(deferred)
        names = {r[0] for r in db.execute("select indexname from pg_indexes where schemaname = 'public'")}
        assert deferred <= names and "message_deliveries_unlinked_id_idx" not in names
        # nothing is missing any more; an index dropped later is built again
        assert indexes.build_missing(db, report=lambda _: None) == 0
        db.execute("drop index message_deliveries_unlinked_guest_id_idx")
        assert indexes.build_missing(db, report=lambda _: None) == 1
