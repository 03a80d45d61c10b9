"""Fixtures of the adoption suite: the real app's database (grantdelgado/unveil) with its original
linkage, rebuilt once per session as a template, and one `CREATE DATABASE … TEMPLATE` clone per test.

Two more session templates, built at once, hold the app upgraded by this project: `dbt run` for real
over the original system, as the platform's owner role (`unveil_upgraded`, with a second `dbt run` to
prove it idempotent) and as the superuser (`unveil_upgraded_by_superuser`). Tests get clones of them.

Databases are named `linkage_test_*` and dropped afterwards. Building needs a superuser (the platform's
roles, schema auth, the app's event triggers); the app's objects belong to `platform_owner`.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import psycopg.sql
import pytest
import unveil_fixture as uf

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing.databases import (
    clone,
    clone_fixture,
    connection_fixture,
    derived_fixture,
)

UNVEIL_TEMPLATE = f"linkage_test_unveil_template_{os.getpid()}"
UPGRADED_TEMPLATE = f"linkage_test_unveil_upgraded_{os.getpid()}"
UPGRADED_BY_SUPERUSER_TEMPLATE = f"linkage_test_unveil_upgraded_su_{os.getpid()}"
# The database dbt runs against as platform_owner always has this name (the template is built under
# it, then renamed; tests that run dbt get their clone under it): dbt parses the project again whenever
# the profile's connection changes, and reuses its parse (partial parsing, same target path) otherwise.
DBT_DATABASE = f"linkage_test_unveil_dbt_{os.getpid()}"
DBT_TARGET = "target/pytest_adoption"
DBT_TARGET_SUPERUSER = "target/pytest_adoption_superuser"
DEPLOY_HOOK = "compiled/delivery_linkage/dbt_project.yml/hooks/delivery_linkage-on-run-start-0.sql"
# the app tables a deploy that changes something must lock (triggers, the adopted audit table)
APP_TABLES = ("users", "events", "event_guests", "messages", "message_deliveries")


@dataclass(frozen=True)
class Upgrade:
    """An upgraded template: its name, the dbt runs that made it, what was there before."""

    database: str
    first_run: dbt_runner.DbtResult
    second_run: dbt_runner.DbtResult | None
    deploy_sql: str  # the SQL of the deploy as dbt ran it (its compiled on-run-start hook)
    legacy_audit: list[tuple]  # the original audit rows before the upgrade (see LEGACY_AUDIT_QUERY)


# the original audit's rows, as comparable text (ids and outcomes as the original wrote them)
LEGACY_AUDIT_QUERY = """
    select id::text, table_name, record_id, event_id, normalized_phone, matched_guest_id, linked_user_id,
           outcome::text, created_at
    from public.user_link_audit order by id::text
"""


def dbt(settings, *args, target=DBT_TARGET) -> dbt_runner.DbtResult:
    """dbt for real, as the data team runs it, against `settings` (its user is the role dbt runs as)."""
    return dbt_runner.run_dbt(list(args), settings, target_path=target)


def dbt_node_statuses(target=DBT_TARGET) -> dict[str, str]:
    """Test or model name → status (pass, fail, warn, error, success) of the last dbt invocation's
    nodes, hooks left out. Generic tests are named without their hash suffix."""
    results = json.loads((dbt_runner.target_dir(target) / "run_results.json").read_text())
    return {
        result["unique_id"].split(".")[2]: result["status"]
        for result in results["results"]
        if not result["unique_id"].startswith("operation.")
    }


def _upgrade(server, template: str, name: str, final_name: str, settings_for, target: str, second_run: bool):
    uf.drop_database(server, name)
    uf.clone_database(server, name, template)
    database = server.with_database(name)
    with psycopg.connect(database.conninfo(), autocommit=True) as conn:
        legacy_audit = conn.execute(LEGACY_AUDIT_QUERY).fetchall()
    first = dbt(settings_for(database), "run", target=target)
    hook = dbt_runner.target_dir(target) / DEPLOY_HOOK
    deploy_sql = hook.read_text() if hook.exists() else ""
    second = None
    if second_run and first.returncode == 0:
        # the second run must need no lock on the app's tables: the app holds them (EXCLUSIVE lets the
        # models read, refuses the locks any trigger or table change needs) until the run returns
        with psycopg.connect(database.conninfo(), autocommit=True) as holder:
            holder.execute("begin")
            holder.execute(f"lock table {', '.join('public.' + t for t in APP_TABLES)} in exclusive mode")
            second = dbt(settings_for(database), "run", target=target)
            holder.execute("rollback")
    if final_name != name:
        uf.drop_database(server, final_name)
        with psycopg.connect(server.with_database("postgres").conninfo(), autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("alter database {} rename to {}").format(
                    psycopg.sql.Identifier(name), psycopg.sql.Identifier(final_name)
                )
            )
    return Upgrade(final_name, first, second, deploy_sql, legacy_audit)


@pytest.fixture(scope="session")
def unveil_template(server):
    """Name of the template database: the app as its migrations leave it, the world lived in it."""
    if not uf.is_superuser(server):
        pytest.skip(f"building the app's database needs a superuser; {server.user} is not one")
    uf.build_database(server, UNVEIL_TEMPLATE)
    yield UNVEIL_TEMPLATE
    uf.drop_database(server, UNVEIL_TEMPLATE)


@pytest.fixture(scope="session")
def unveil_upgrades(server, unveil_template) -> dict[str, Upgrade]:
    """The app upgraded in place by `dbt run`, as platform_owner (twice: the second run under the app's
    locks) and as the superuser, both at once: role → Upgrade (the template of its clones)."""
    with ThreadPoolExecutor(2) as pool:
        by_owner = pool.submit(
            _upgrade, server, unveil_template, DBT_DATABASE, UPGRADED_TEMPLATE, uf.as_owner, DBT_TARGET, True
        )
        by_superuser = pool.submit(
            _upgrade,
            server,
            unveil_template,
            UPGRADED_BY_SUPERUSER_TEMPLATE,
            UPGRADED_BY_SUPERUSER_TEMPLATE,
            lambda settings: settings,
            DBT_TARGET_SUPERUSER,
            False,
        )
        upgrades = {"platform_owner": by_owner.result(), "superuser": by_superuser.result()}
    yield upgrades
    for upgrade in upgrades.values():
        uf.drop_database(server, upgrade.database)


@pytest.fixture(scope="session")
def unveil_upgraded(unveil_upgrades) -> Upgrade:
    """The app upgraded by platform_owner, the template of `adopted_db`."""
    return unveil_upgrades["platform_owner"]


@pytest.fixture(scope="session")
def unveil_upgraded_by_superuser(unveil_upgrades) -> Upgrade:
    """The app upgraded by the server's superuser."""
    return unveil_upgrades["superuser"]


def upgraded_template(upgrade: Upgrade) -> str:
    """The database of an upgrade, the template of its clones; a failed upgrade fails the test."""
    if upgrade.first_run.returncode != 0:
        pytest.fail(f"the upgrade's dbt run failed:\n{upgrade.first_run.output[-4000:]}")
    return upgrade.database


# one clone of a template per test (delivery_linkage_devtools.testing.databases), owned by platform_owner
# as the app's database is, and a connection to it
unveil_db = clone_fixture(
    "unveil_template",
    "A fresh copy of the app's database: ConnectionSettings as the server's superuser.",
    owner=uf.OWNER_ROLE,
)
unveil_owner = derived_fixture(
    "unveil_db",
    uf.as_owner,
    "The same copy as the platform's owner role (platform_owner: not a superuser, owns the app).",
)
owner_conn = connection_fixture("unveil_owner", "An autocommit connection to the copy, as platform_owner.")

adopted_db = clone_fixture(
    "unveil_upgraded",
    "A fresh copy of the app upgraded by platform_owner: ConnectionSettings as the superuser.",
    template=upgraded_template,
    owner=uf.OWNER_ROLE,
)
adopted_owner = derived_fixture(
    "adopted_db", uf.as_owner, "The upgraded copy as platform_owner, the role the data team runs dbt as."
)
conn = connection_fixture("adopted_owner", "An autocommit connection to the upgraded copy, as platform_owner.")

adopted_for_dbt = clone_fixture(
    "unveil_upgraded",
    "A fresh copy of the app upgraded by platform_owner, under the name dbt always runs against (DBT_DATABASE, "
    "so dbt reuses its parse): ConnectionSettings as platform_owner.",
    template=upgraded_template,
    settings=uf.as_owner,
    owner=uf.OWNER_ROLE,
    name=DBT_DATABASE,
)
dbt_conn = connection_fixture("adopted_for_dbt", "An autocommit connection to that copy, as platform_owner.")


@pytest.fixture(params=["platform_owner", "superuser"])
def upgraded_as(request, server):
    """A fresh copy of the app upgraded by each role in turn: (role, ConnectionSettings of that role)."""
    upgrade = request.getfixturevalue(
        "unveil_upgraded" if request.param == "platform_owner" else "unveil_upgraded_by_superuser"
    )
    with clone(server, upgraded_template(upgrade), owner=uf.OWNER_ROLE) as settings:
        yield request.param, (uf.as_owner(settings) if request.param == "platform_owner" else settings), upgrade
