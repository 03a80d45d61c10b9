"""delivery_linkage installed as a package: another dbt project gets the deploy, the models and the tests.

Two kinds of project, built with the venv's dbt for real against a fresh app database without the linkage:

- a brand-new project (what `dbt init` makes, no model of its own) whose packages.yml is taken
  word for word from docs/package.md, in both documented forms: a checkout on disk (`local:`), and git
  (`git:` + `revision:`, the placeholders filled with a `file://` URL and a commit, and a tag, of a
  repository the test makes from this checkout's files: no network);
- tests/package_project/, a data team's own project (`app_analytics`): one model of its own reads the
  package's delivery_integrity, and the package's vars are set under `vars: delivery_linkage:`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import runbook_world

pytestmark = pytest.mark.dbt

CHECKOUT_DIR = Path(__file__).resolve().parents[1]  # the dbt project stays at its root: installed from git as is
PACKAGE_PROJECT = Path(__file__).parent / "package_project"
SCHEMA = "analytics"  # the root project's target schema: the package's models are built there too
DOCS = CHECKOUT_DIR / "docs" / "package.md"
URL_PLACEHOLDER, REVISION_PLACEHOLDER = "<the repository's URL>", "<a commit SHA or a tag>"
NEW_PROJECT = """\
name: new_project
version: "1.0.0"
config-version: 2
profile: new_project
"""  # what `dbt init new_project` writes, less its comments and example models


def dbt_env(settings, profiles: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBT_"))}
    env.update(settings.libpq_env())
    env.update(DBT_PROFILES_DIR=str(profiles), DBT_SCHEMA=SCHEMA, DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    env.update(DO_NOT_TRACK="1")
    return env


def run_dbt(project: Path, env: dict[str, str], *args: str) -> dbt_runner.DbtResult:
    completed = subprocess.run(
        [dbt_runner.dbt_executable(), *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    return dbt_runner.DbtResult(list(args), completed.returncode, completed.stdout, completed.stderr)


def documented_packages_yml(form: str) -> str:
    """The packages.yml block of docs/package.md for `form` (local or git), exactly as written."""
    blocks = re.findall(r"```yaml\n(# packages\.yml.*?)```", DOCS.read_text(), re.S)
    chosen = [block for block in blocks if re.search(rf"^\s*- {form}:", block, re.M)]
    assert len(chosen) == 1, f"docs/package.md should show one packages.yml with `{form}:`"
    return chosen[0]


def git(cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.test", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return completed.stdout.strip()


def repository_of_this_checkout(destination: Path) -> Path:
    """A git repository holding this checkout's files as they are now (committed or not, ignored files
    left out), one commit, tagged v0.0.0-test: what the data team's git server would serve."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        listed = git(CHECKOUT_DIR, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    except subprocess.CalledProcessError:
        pytest.skip("this checkout is not a git work tree")
    destination.mkdir(parents=True)
    for name in filter(None, listed.split("\0")):
        source = CHECKOUT_DIR / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git(destination, "init", "--quiet", "--initial-branch=main")
    git(destination, "add", "--all")
    git(destination, "commit", "--quiet", "--message", "delivery_linkage as checked out")
    git(destination, "tag", "v0.0.0-test")
    return destination


@pytest.mark.parametrize("form", ["local", "git"])
def test_a_brand_new_project_installs_the_package_as_documented_and_builds(tmp_path, bare_app_db, form):
    project = tmp_path / "new_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text(NEW_PROJECT)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = (PACKAGE_PROJECT / "profiles.example.yml").read_text()
    (profiles / "profiles.yml").write_text(profile.replace("app_analytics:", "new_project:"))
    env = dbt_env(bare_app_db, profiles)

    packages = documented_packages_yml(form)
    if form == "local":  # the documented `../delivery_linkage`: a checkout next to the project
        (tmp_path / "delivery_linkage").symlink_to(CHECKOUT_DIR, target_is_directory=True)
    else:
        repository = repository_of_this_checkout(tmp_path / "served" / "delivery_linkage.git")
        commit = git(repository, "rev-parse", "HEAD")
        assert URL_PLACEHOLDER in packages and REVISION_PLACEHOLDER in packages
        packages = packages.replace(URL_PLACEHOLDER, repository.as_uri()).replace(REVISION_PLACEHOLDER, commit)
    (project / "packages.yml").write_text(packages)

    deps = run_dbt(project, env, "deps").check()
    installed = project / "dbt_packages" / "delivery_linkage"
    assert (installed / "dbt_project.yml").exists(), deps.output[-2000:]
    if form == "git":
        lock = (project / "package-lock.yml").read_text()
        assert commit in lock  # pinned to the documented revision

    build = run_dbt(project, env, "build")
    assert build.returncode == 0, build.output[-4000:]
    assert "OK hook: delivery_linkage.on-run-start" in build.output
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0", build.output), build.output[-2000:]
    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as conn:
        assert conn.execute(f"select health_status from {SCHEMA}.delivery_integrity").fetchone() == ("healthy",)

    if form == "git":  # a tag is a revision too (what a release will be)
        (project / "packages.yml").write_text(packages.replace(commit, "v0.0.0-test"))
        shutil.rmtree(project / "dbt_packages")
        (project / "package-lock.yml").unlink()
        run_dbt(project, env, "deps").check()
        assert (installed / "dbt_project.yml").exists()


def test_the_python_package_and_the_dbt_package_carry_one_version():
    python_version = tomllib.loads((CHECKOUT_DIR / "pyproject.toml").read_text())["project"]["version"]
    dbt_version = re.search(r'^version: "([^"]+)"', (CHECKOUT_DIR / "dbt_project.yml").read_text(), re.M)
    assert dbt_version and dbt_version.group(1) == python_version
    printed = subprocess.run(
        [str(Path(sys.executable).with_name("linkage")), "--version"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed.strip() == f"delivery_linkage {python_version}"
    changelog = (CHECKOUT_DIR / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog  # changes land there until a version is tagged


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
        DELIVERY_LINKAGE_DIR=str(CHECKOUT_DIR),
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
    assert installed.is_symlink() and installed.resolve() == CHECKOUT_DIR.resolve()

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
