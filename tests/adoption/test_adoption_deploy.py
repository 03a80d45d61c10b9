"""`dbt run` upgrades the real app's database in place over its original linkage: under the app's DDL
guards, as the platform's non-superuser owner and as the superuser, idempotently, printing what it
changed in privileges; `dbt test` judges only what this project wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from adoption_support import (
    G,
    M,
    U,
    as_service_role,
    delivery_user,
    new_audit,
    new_message,
    notices,
    upsert,
)

from conftest import APP_TABLES, DBT_TARGET, dbt, dbt_node_statuses
from delivery_linkage_devtools.testing.world import linkable_null

pytestmark = pytest.mark.dbt

# what the app's public schema holds as tables after the upgrade: the app's own, nothing of ours
APP_PUBLIC_TABLES = {*APP_TABLES, "scheduled_messages", "user_link_audit_purge_runs"}
API_ROLES = ("anon", "authenticated", "service_role")
# the functions that change or reveal links, the original's among them (all EXECUTE-able by the API
# roles before the upgrade, through the platform's default privileges)
GUARDED_FUNCTIONS = (
    "public.link_user_by_phone(uuid, text)",
    "public.backfill_user_links(text, integer, boolean)",
    "public.rollback_user_links(timestamptz, text, boolean)",
    "public.purge_user_link_audit(integer)",
    "public.run_user_link_audit_purge(integer)",
)


def guards(conn) -> list[tuple]:
    return conn.execute("select evtname, evtenabled from pg_event_trigger order by 1").fetchall()


def public_tables(conn) -> set[str]:
    return {
        row[0]
        for row in conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')"
        )
    }


def execute_privileges(conn, functions) -> dict[tuple[str, str], bool]:
    return {
        (role, function): conn.execute(
            "select has_function_privilege(%s, %s::regprocedure, 'EXECUTE')", (role, function)
        ).fetchone()[0]
        for role in API_ROLES
        for function in functions
    }


# ---------------------------------------------------------------------------------------------------
# the upgrade


def test_dbt_run_as_the_platform_owner_upgrades_the_original_system_under_the_apps_guards(unveil_upgraded, conn):
    run = unveil_upgraded.first_run
    assert run.returncode == 0, run.output[-4000:]
    assert "Completed successfully" in run.output
    assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (False,)
    # the app's guards are still on, and nothing of ours is a table in public
    assert guards(conn) == [("trg_enforce_rls_on_new_tables", "O"), ("trg_enforce_search_path_on_secdef", "O")]
    assert public_tables(conn) == APP_PUBLIC_TABLES
    kinds = dict(
        conn.execute(
            "select relname, relkind::text from pg_class where relnamespace = 'public'::regnamespace "
            "and relname in ('user_link_audit', 'feature_flags')"
        ).fetchall()
    )
    assert kinds == {"user_link_audit": "v", "feature_flags": "v"}
    assert conn.execute(
        "select deployed_by, count(*) over () from delivery_linkage.linkage_deployments"
    ).fetchall() == [("platform_owner", 1)]
    # the original's trigger gave way to the project's, under the runbook's name, once
    triggers = dict(
        conn.execute(
            "select tgname, pg_get_triggerdef(oid) from pg_trigger "
            "where tgrelid = 'public.message_deliveries'::regclass and not tgisinternal"
        ).fetchall()
    )
    assert "BEFORE INSERT ON public.message_deliveries" in triggers["trigger_message_deliveries_auto_link_user"]
    assert "FOR EACH ROW EXECUTE FUNCTION auto_link_user_by_phone_trigger()" in (
        triggers["trigger_message_deliveries_auto_link_user"]
    )
    assert "FOR EACH STATEMENT EXECUTE FUNCTION delivery_linkage.audit_inserted_delivery_links()" in (
        triggers["trigger_message_deliveries_audit_links"]
    )
    # the models are built on the app's data
    assert conn.execute("select total_deliveries from linkage.delivery_integrity").fetchone() == (40,)


def test_dbt_run_as_the_superuser_upgrades_the_original_system_too(unveil_upgraded_by_superuser, server):
    run = unveil_upgraded_by_superuser.first_run
    assert run.returncode == 0, run.output[-4000:]
    settings = server.with_database(unveil_upgraded_by_superuser.database)
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        assert guards(conn) == [("trg_enforce_rls_on_new_tables", "O"), ("trg_enforce_search_path_on_secdef", "O")]
        assert public_tables(conn) == APP_PUBLIC_TABLES
        assert conn.execute("select count(*) from public.user_link_audit where audit_source = 'legacy'").fetchone() == (
            len(unveil_upgraded_by_superuser.legacy_audit),
        )


def test_a_superuser_deploy_acts_as_the_owner_of_the_apps_tables(unveil_upgraded_by_superuser, unveil_db):
    # the original's functions belong to platform_owner, who owns the app's tables: a superuser's deploy
    # acts as that role, so nothing of the linkage is a superuser's SECURITY DEFINER function and the
    # functions replaced in place can read what the deploy created
    with psycopg.connect(unveil_db.conninfo(), autocommit=True) as conn:
        with notices(conn) as received:
            conn.execute(unveil_upgraded_by_superuser.deploy_sql)
        assert "delivery_linkage: deploying as platform_owner, the owner of the app's tables" in received
        owners = conn.execute(
            "select distinct pg_get_userbyid(proowner) from pg_proc "
            "where obj_description(oid, 'pg_proc') like 'delivery_linkage:%'"
        ).fetchall()
        assert owners == [("platform_owner",)]
        message = new_message(conn)
    with as_service_role(unveil_db) as api:  # the app's server: links through the definer functions
        delivery = upsert(api, message, "wedding/ben", "+15550000102")
    with psycopg.connect(unveil_db.conninfo(), autocommit=True) as conn:
        assert delivery_user(conn, delivery) == U["ben"]


def test_a_second_dbt_run_has_nothing_to_do_and_needs_no_lock_on_the_apps_tables(unveil_upgraded, conn):
    # the fixture ran it while the app held every app table in EXCLUSIVE mode (reads allowed, no
    # trigger or table change possible): a deploy that wanted any of them would have failed
    second = unveil_upgraded.second_run
    assert second is not None and second.returncode == 0, second and second.output[-4000:]
    assert conn.execute("select count(*) from delivery_linkage.linkage_deployments").fetchone() == (1,)


def test_running_the_deploy_again_says_nothing_to_do(unveil_upgraded, conn):
    with notices(conn) as received:
        conn.execute(unveil_upgraded.deploy_sql)
    assert len(received) == 1 and received[0].endswith("is current, nothing to do"), received


def test_the_deploy_prints_what_it_changed_in_privileges(unveil_upgraded, owner_conn):
    # the very SQL dbt ran (its compiled on-run-start hook), on a fresh copy of the app, through psycopg
    # (dbt does not show the server's NOTICEs)
    with notices(owner_conn) as received:
        owner_conn.execute(unveil_upgraded.deploy_sql)
    printed = [message for message in received if "privileges" in message or "policy" in message]
    print("\n".join(received))
    # the readers of the app's audit keep reading it, through the new storage too
    for role in API_ROLES:
        assert (
            f"delivery_linkage: privileges: {role} read the adopted audit table; granted SELECT on "
            "public.user_link_audit and delivery_linkage.link_attempts, USAGE on schema delivery_linkage"
        ) in printed
    assert (
        "delivery_linkage: copied policy user_link_audit_host_access of the adopted audit table onto "
        "delivery_linkage.link_attempts"
    ) in printed
    # the functions that change or reveal links are taken from PUBLIC and from each API role by name
    for function in GUARDED_FUNCTIONS:
        for grantee in ("public", *API_ROLES):
            assert f"delivery_linkage: privileges: revoked all on function {function} from {grantee}" in printed
    assert any(
        message.startswith("delivery_linkage: adopted audit table public.user_link_audit") for message in received
    )
    # the audit view (the linkage's own now) keeps its readers, and nobody else may write or trigger on it
    for role in API_ROLES:
        assert (
            "delivery_linkage: privileges: revoked insert, update, delete, truncate, references, trigger on table "
            f"public.user_link_audit from {role}"
        ) in printed
    # nothing else was revoked from the API roles on the app's own objects
    assert not [
        m
        for m in printed
        if "revoked" in m and " on table public." in m and "feature_flags" not in m and "user_link_audit" not in m
    ]


def test_api_roles_lose_the_functions_that_change_or_reveal_links_a_security_gain(unveil_owner, owner_conn, conn):
    before = execute_privileges(owner_conn, GUARDED_FUNCTIONS)
    after = execute_privileges(conn, GUARDED_FUNCTIONS)
    assert all(before.values()), before  # the platform granted them all to every API role
    assert not any(after.values()), after
    print(f"security gain: {len(after)} EXECUTE grants of the API roles on functions that change links revoked")
    # what stays callable: the phone normalization and the flags reveal no link
    assert all(execute_privileges(conn, ("public.normalize_phone(text)", "public.get_feature_flag(text)")).values())


# ---------------------------------------------------------------------------------------------------
# flags


def test_missing_flag_rows_are_restored_by_the_next_deploy(unveil_upgraded, conn):
    conn.execute("delete from public.feature_flags")
    message = new_message(conn)
    # a missing flag is off: linking stops (and says so in the audit)
    off = upsert(conn, message, "wedding/ava", "+15550000101")
    assert delivery_user(conn, off) is None
    assert new_audit(conn, off) == [("skipped", "feature_disabled", None)]
    # the next deploy, unchanged otherwise, does not stop at "nothing to do" (the SQL dbt runs)
    with notices(conn) as received:
        conn.execute(unveil_upgraded.deploy_sql)
    assert received[-1].startswith("delivery_linkage: deployed version"), received
    assert dict(conn.execute("select flag_name, enabled from public.feature_flags").fetchall()) == {
        "LINK_USER_BY_PHONE": True,
        "LINK_USER_BY_PHONE_FALLBACK_TO_USERS": False,
    }
    on = upsert(conn, message, "wedding/ben", "+15550000102")
    assert delivery_user(conn, on) == U["ben"]


def test_linkage_check_reports_missing_flag_rows(adopted_owner, conn):
    conn.execute("delete from public.feature_flags where flag_name = 'LINK_USER_BY_PHONE'")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")} | adopted_owner.libpq_env()
    result = subprocess.run(
        [str(Path(sys.executable).with_name("linkage")), "check", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report.get("missing_feature_flags") == ["LINK_USER_BY_PHONE"], report
    # a missing flag row reads as linking off: never healthy, and the check says so and how to fix it
    assert report["status"] != "healthy" and result.returncode == report["exit_code"] != 0, report
    assert any("LINK_USER_BY_PHONE" in problem for problem in report["problems"]), report


# ---------------------------------------------------------------------------------------------------
# dbt test on the adopted data


def test_dbt_test_after_the_upgrade_reports_only_the_deliveries_the_original_left_unlinked(adopted_for_dbt, dbt_conn):
    # the original system left two deliveries of active linked guests without their user: Ben's first
    # in B (sent before he signed up; a dry run audited it 'linked') and Ava's sent while linking was
    # off. Those are the world's real state, and the two tests whose job is to say so do; the legacy
    # audit rows (other meanings of 'linked', 'ambiguous', no candidate count) are judged by nobody.
    left_unlinked = {
        str(row[0])
        for row in dbt_conn.execute(
            "select id from public.message_deliveries where (message_id, guest_id) in ((%s, %s), (%s, %s))",
            (M["birthday/invitation"], G["birthday/ben"], M["wedding/dress-code"], G["wedding/ava"]),
        )
    }
    assert linkable_null(dbt_conn) == left_unlinked
    dbt(adopted_for_dbt, "test")
    statuses = dbt_node_statuses(DBT_TARGET)
    not_passing = {name: status for name, status in statuses.items() if status != "pass"}
    assert not_passing == {
        "assert_inconsistency_below_critical": "fail",
        "assert_no_linkable_null_deliveries": "warn",
    }
    stored = {
        str(row[0])
        for row in dbt_conn.execute(
            "select delivery_id from linkage_dbt_test__audit.assert_no_linkable_null_deliveries"
        )
    }
    assert stored == left_unlinked

    backfill = dbt(adopted_for_dbt, "run-operation", "backfill_deliveries")
    backfill.check()
    # the two, and the host's own copy without a guest (guest phone: Hana's, in her event)
    assert "Linked 3 of 22" in backfill.output
    assert linkable_null(dbt_conn) == set()
    # the hourly build counts the categories and the runbook's figure beside the verdict
    dbt(adopted_for_dbt, "run", "--select", "delivery_integrity_history").check()
    green = dbt(adopted_for_dbt, "test")
    assert green.returncode == 0, green.output[-3000:]
    not_passing = {name: status for name, status in dbt_node_statuses(DBT_TARGET).items() if status != "pass"}
    # Cleo's first delivery stays NULL (her guest row was removed): the original daily script's figure
    # counts it, the project's does not (category null_guest_removed, with the three NULL deliveries of
    # removed guests without an account, which neither counts). The runbook's figure is shown beside the
    # verdict, never tested: nothing warns when all is well.
    assert not_passing == {}
    assert dbt_conn.execute(
        "select null_guest_removed, runbook_inconsistent_deliveries - inconsistent_deliveries "
        "from linkage.delivery_integrity"
    ).fetchone() == (4, 1)
    assert dbt_conn.execute(
        "select count(*) from public.user_link_audit where audit_source = 'linkage' "
        "and table_name = 'message_deliveries_backfill' and reason like 'historical_%%'"
    ).fetchone() == (3,)
