"""Where the dbt project is found (--project-dir, LINKAGE_PROJECT_DIR, the checkout, the installed copy),
the error when it is not, and that nothing is written inside an installed package.
(The wheel itself, installed for real: tests/test_wheel_install.py, `make test-install`.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from delivery_linkage import project, validation
from delivery_linkage.database import connection, dbt_runner

CHECKOUT_DIR = Path(__file__).resolve().parents[1]
LINKAGE = str(Path(sys.executable).with_name("linkage"))


@pytest.fixture
def clean_environment(monkeypatch):
    for name in (project.PROJECT_VARIABLE, project.DATA_VARIABLE, "LINKAGE_PGDATA", "DBT_PROFILES_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH", "LINKAGE_TARGET_SUFFIX"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def a_copy_of_the_project(destination: Path) -> Path:
    destination.mkdir(parents=True)
    for name in ("dbt_project.yml", "profiles.example.yml"):
        shutil.copyfile(CHECKOUT_DIR / name, destination / name)
    return destination


def test_an_editable_install_finds_the_project_in_its_checkout_and_writes_there(clean_environment):
    assert project.checkout_dir() == CHECKOUT_DIR
    assert project.project_dir() == CHECKOUT_DIR
    assert project.output_dir(CHECKOUT_DIR) == CHECKOUT_DIR
    assert project.embedded_data_dir() == CHECKOUT_DIR / ".pgdata"
    assert validation.suites_dir() == CHECKOUT_DIR / "gx" / "expectations"
    assert dbt_runner.target_dir() == CHECKOUT_DIR / "target"


def test_the_option_wins_over_the_variable_which_wins_over_the_checkout(clean_environment, tmp_path):
    named = a_copy_of_the_project(tmp_path / "named")
    chosen = a_copy_of_the_project(tmp_path / "chosen")
    clean_environment.setenv(project.PROJECT_VARIABLE, str(named))
    assert project.project_dir() == named
    assert project.project_dir(chosen) == chosen


@pytest.mark.parametrize("content", [None, 'name: someone_elses_project\nversion: "1.0"\n'])
def test_a_folder_that_is_not_the_project_is_refused_with_the_cause_and_the_fix(clean_environment, tmp_path, content):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    if content:
        (folder / "dbt_project.yml").write_text(content)
    clean_environment.setenv(project.PROJECT_VARIABLE, str(folder))
    with pytest.raises(project.ProjectNotFound) as raised:
        project.project_dir()
    message = str(raised.value)
    assert f"LINKAGE_PROJECT_DIR names {folder}" in message and "\n  fix: " in message


def test_the_installed_copy_of_the_project_is_never_written(clean_environment, tmp_path):
    installed = a_copy_of_the_project(tmp_path / "site-packages" / "delivery_linkage" / "project")
    before = sorted(p.name for p in installed.rglob("*"))
    clean_environment.setattr(project, "PACKAGED_PROJECT", installed)
    clean_environment.setenv(project.DATA_VARIABLE, str(tmp_path / "data"))
    data = tmp_path / "data"
    assert project.output_dir(installed) == data
    assert validation.default_data_docs_dir(installed) == data / "gx" / "uncommitted" / "data_docs"

    settings = connection.ConnectionSettings("/nowhere", 5432, "postgres", None, "app", embedded=False)
    command, env = dbt_runner.dbt_invocation(["test"], settings, project_dir=installed)
    assert command[-2:] == ["--project-dir", str(installed)]
    assert env["DBT_TARGET_PATH"] == str(data / "target") and env["DBT_LOG_PATH"] == str(data / "logs")
    assert Path(env["DBT_PROFILES_DIR"]) == data / ".dbt" and (data / ".dbt" / "profiles.yml").exists()
    assert sorted(p.name for p in installed.rglob("*")) == before


def test_linkage_validate_names_the_cause_and_the_fix_when_the_project_is_not_found(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != project.PROJECT_VARIABLE}
    result = subprocess.run(
        [LINKAGE, "validate", "--json", "--project-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 3
    error = json.loads(result.stdout)
    assert error["error"].startswith(f"--project-dir names {tmp_path}")
    assert "checkout" in error["fix"]
    where = subprocess.run([LINKAGE, "project-dir"], env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0 and where.stdout.strip() == str(CHECKOUT_DIR)
