"""delivery_linkage installed as a package: another dbt project gets the deploy, the models and the tests.

tests/package_project/ is a data team's own project (`app_analytics`): packages.yml points at
this checkout, one model of its own reads the package's delivery_integrity, and the package's vars are
set under `vars: delivery_linkage:`. The test copies it into a temporary folder (dbt deps, target/ and
logs/ land there) and runs the venv's dbt for real against a fresh app database without the linkage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

import runbook_world
from delivery_linkage import PROJECT_DIR
from delivery_linkage.database import dbt_runner

pytestmark = pytest.mark.dbt

PACKAGE_PROJECT = Path(__file__).parent / "package_project"
SCHEMA = "analytics"  # the root project's target schema: the package's models are built there too


@pytest.fixture
def app_project(tmp_path, bare_app_db):
    """The package project in a temporary folder, and a function running dbt in it against bare_app_db."""
    project = tmp_path / "app_analytics"
    shutil.copytree(PACKAGE_PROJECT, project, ignore=shutil.ignore_patterns("dbt_packages", "target", "logs"))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(PACKAGE_PROJECT / "profiles.example.yml", profiles / "profiles.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBT_"))}
    env.update(bare_app_db.libpq_env())
    env.update(
        DBT_PROFILES_DIR=str(profiles),
        DBT_SCHEMA=SCHEMA,
        DELIVERY_LINKAGE_DIR=str(PROJECT_DIR),
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
    )

    def dbt(*args: str) -> dbt_runner.DbtResult:
        completed = subprocess.run(
            [dbt_runner.dbt_executable(), *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return dbt_runner.DbtResult(list(args), completed.returncode, completed.stdout, completed.stderr)

    return project, dbt


def health(conn):
    return conn.execute(
        "select health_status, inconsistency_percentage::float, critical_pct::float "
        f"from {SCHEMA}.app_linkage_health"
    ).fetchone()


def test_installed_package_deploys_builds_tests_and_takes_vars_from_the_root_project(
    app_project, bare_app_db
):
    project, dbt = app_project

    dbt("deps").check()
    installed = project / "dbt_packages" / "delivery_linkage"
    # dbt 1.11 symlinks a local package: nothing of this checkout (target/, .venv/, .pgdata/) is copied
    assert installed.is_symlink() and installed.resolve() == PROJECT_DIR.resolve()

    run = dbt("run").check()
    assert "OK hook: delivery_linkage.on-run-start" in run.output  # the package's on-run-start hook ran
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    package_models = sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == "delivery_linkage"
    )
    assert "delivery_integrity" in package_models and len(package_models) >= 19

    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as conn:
        triggers = {
            row[0]
            for row in conn.execute(
                "select t.tgname from pg_catalog.pg_trigger as t "
                "join pg_catalog.pg_class as c on c.oid = t.tgrelid "
                "join pg_catalog.pg_namespace as n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and not t.tgisinternal"
            )
        }
        assert {
            "trigger_message_deliveries_auto_link_user",
            "trigger_backfill_deliveries_on_guest_link",
        } <= triggers
        missing = [
            name
            for name in [*package_models, "app_linkage_health"]
            if conn.execute("select to_regclass(%s)", (f"{SCHEMA}.{name}",)).fetchone()[0] is None
        ]
        assert missing == []

        # the runbook's situation: 3 of 71 deliveries linkable but NULL (4.23 %)
        runbook_world.build(conn, 71, 3)
        assert health(conn) == ("critical", 4.23, 1.0)
        failing = dbt("test")  # the package's tests run in the root project, with their severities
        assert failing.returncode == 1, failing.output[-3000:]
        assert "assert_inconsistency_below_critical" in failing.output

        # the root project's scoped var (vars: delivery_linkage: linkage_critical_pct) reaches the package
        config = project / "dbt_project.yml"
        text = config.read_text()
        assert "    linkage_critical_pct: 1.0 " in text
        config.write_text(text.replace("    linkage_critical_pct: 1.0 ", "    linkage_critical_pct: 5 "))
        # the threshold is applied in int_delivery_integrity__assessed; replacing a view drops the
        # views built on it (here app_linkage_health): rebuild it and everything downstream
        dbt("run", "--select", "int_delivery_integrity__assessed+").check()
        assert health(conn) == ("warning", 4.23, 5.0)
        passing = dbt("test")
        assert passing.returncode == 0, passing.output[-3000:]
        assert "WARN" in passing.output and "assert_no_linkable_null_deliveries" in passing.output

        # --vars on the command line (global) wins over the root project's scoped value
        dbt("run", "--select", "int_delivery_integrity__assessed+", "--vars", "{linkage_critical_pct: 3}").check()
        assert health(conn) == ("critical", 4.23, 3.0)
