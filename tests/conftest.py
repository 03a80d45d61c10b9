"""Fixtures: one server per session, one app database per test cloned from a template.

The template is the project's app fixture with the linkage deployed by dbt for real
(`dbt run-operation deploy`, reading profiles.example.yml). Each test gets
`CREATE DATABASE … TEMPLATE …`, so tests are isolated and fast. Databases are named
`linkage_test_*` and dropped afterwards; nothing else on the server is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.testing.databases import app_database, clone_fixture, connection_fixture

TEMPLATE = f"linkage_test_template_{os.getpid()}"
MODELED_TEMPLATE = f"linkage_test_modeled_{os.getpid()}"
MODELED_TARGET = "target/pytest_modeled"  # where the modeled template's `dbt run` compiles the models

# The core suite (`pytest -m core`): what `make test-matrix` runs on every PostgreSQL version. Files and
# folders relative to tests/: the rules, the deploy and its upgrade, races, privileges, the models and dbt
# tests, the commands, the pooler, and the adoption suite on the real app's schema (a folder: every file in it).
CORE_SUITE = (
    "test_linkage_rules.py",
    "test_properties.py",
    "test_deploy.py",
    "test_upgrade_in_place.py",
    "test_races_and_privileges.py",
    "test_dbt_models_and_tests.py",
    "test_check_and_backfill_commands.py",
    "test_pooler.py",
    "reliability/test_reliability_privileges.py",
    "reliability/test_reliability_races.py",
    "adoption/",
)


def pytest_configure(config):
    """`make test` runs the files on two workers (pytest-xdist, --dist loadfile). The controller starts the
    embedded server once, before any worker could race to initialise it; each worker keeps its own dbt
    target and log folders (its databases are named after its pid already)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ["LINKAGE_TARGET_SUFFIX"] = f"pytest_{worker}"
        os.environ["DBT_LOG_PATH"] = str(Path(__file__).parent.parent / "logs" / worker)
    elif getattr(config.option, "numprocesses", None):
        server = connection.resolve("postgres")
        # roles are the cluster's, not a database's: created once here, so that workers building their
        # fixtures at the same moment find them and write nothing to the roles catalog
        roles = Path(__file__).parent / "adoption" / "sql" / "00_platform_roles.sql"
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(roles.read_text())


def pytest_addoption(parser):
    parser.addoption(
        "--stress", action="store_true", help="run the reliability suite at ten times its default size"
    )


# tests that run dbt in a subprocess through their fixtures (besides the session's one deploy of the
# template database), marked `dbt` like the files that call dbt themselves; `make test-fast` skips them
DBT_FIXTURES = {"modeled_app_db", "modeled_db"}
DBT_PATHS = ("adoption/", "test_concurrency_benchmark.py")


# slow suites with make targets of their own: they run only when `-m` names them (make test-install,
# test-standby, test-pgcron)
OPT_IN_MARKERS = {"install": "make test-install", "standby": "make test-standby", "pgcron": "make test-pgcron"}


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).parent
    chosen = config.getoption("markexpr") or ""
    for item in items:
        for marker, target in OPT_IN_MARKERS.items():
            if item.get_closest_marker(marker) and marker not in chosen:
                item.add_marker(pytest.mark.skip(reason=f"opt-in: `{target}` (pytest -m {marker})"))
        relative = item.path.relative_to(tests_dir).as_posix() if item.path.is_relative_to(tests_dir) else ""
        if any(relative == entry or (entry.endswith("/") and relative.startswith(entry)) for entry in CORE_SUITE):
            item.add_marker(pytest.mark.core)
        if relative.startswith(DBT_PATHS) or DBT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dbt)


@pytest.fixture(scope="session")
def server():
    """Connection settings of the server under test (libpq variables, else the embedded server)."""
    return connection.resolve("postgres")


@pytest.fixture(scope="session")
def template_database(server):
    app_fixture.create_app_database(server, TEMPLATE)
    result = dbt_runner.run_dbt(
        ["run-operation", "deploy"], server.with_database(TEMPLATE), target_path="target/pytest_template"
    )
    result.check()
    yield TEMPLATE
    app_fixture.drop_database(server, TEMPLATE)


@pytest.fixture(scope="session")
def modeled_template_database(server, template_database):
    """The template with the dbt models built too (`dbt run`): what `linkage check` reads."""
    app_fixture.create_database(server, MODELED_TEMPLATE, template=template_database)
    result = dbt_runner.run_dbt(["run"], server.with_database(MODELED_TEMPLATE), target_path=MODELED_TARGET)
    result.check()
    yield MODELED_TEMPLATE
    app_fixture.drop_database(server, MODELED_TEMPLATE)


# one clone of a template per test (delivery_linkage_devtools.testing.databases), and a connection to it
app_db = clone_fixture(
    "template_database", "A fresh app database with the linkage deployed: ConnectionSettings for it."
)
db = connection_fixture("app_db", "An autocommit psycopg connection to the per-test app database.")
modeled_app_db = clone_fixture(
    "modeled_template_database", "A fresh app database with the linkage deployed and the dbt models built."
)
modeled_db = connection_fixture(
    "modeled_app_db", "An autocommit psycopg connection to a per-test database with the models built."
)


@pytest.fixture
def bare_app_db(server):
    """A fresh app database without the linkage (for deploy tests)."""
    with app_database(server) as settings:
        yield settings


@pytest.fixture(scope="session")
def pgbouncer(server):
    """PgBouncer in transaction mode on 127.0.0.1 in front of the server under test (tests/pooler.py)."""
    import pooler

    binary = pooler.pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer is not installed: `make setup` installs Debian's package when run as root")
    bouncer = pooler.PgBouncer(server, binary).start()
    yield bouncer
    bouncer.stop()
