"""The product's wheel, installed as a new user would, works from any directory (`make test-install`).

The wheel is built (`python -m build --wheel`) from a copy of this checkout's files (what a clean clone
holds), installed with pip into a fresh virtual environment in a temporary folder, and run from another
temporary folder against a fresh app database named by the libpq variables: the linkage is deployed
through the installed package's own dbt project (`linkage dbt run`), then check, validate, report,
backfill and rollback run and their figures are read. Nothing may be written inside the installed
package; dbt's and GX's outputs go to the per-user data directory (XDG_DATA_HOME here). Slow (a wheel, a
virtual environment, pip): opt-in, marker `install`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from delivery_linkage_devtools.testing import runbook_world

pytestmark = pytest.mark.install

CHECKOUT_DIR = Path(__file__).resolve().parents[1]
DEVELOPER_COMMANDS = ("demo", "generate", "bench")
PRODUCT_COMMANDS = (
    "check",
    "validate",
    "report",
    "backfill",
    "rollback",
    "sweep",
    "indexes",
    "dbt",
    "project-dir",
    "db",
)


@dataclass
class Installed:
    source: Path  # the files the wheel was built from
    wheel: Path
    venv: Path
    home: Path  # XDG_DATA_HOME: the per-user data directory is <home>/delivery_linkage
    workdir: Path  # the directory the commands run from

    @property
    def package(self) -> Path:
        python = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.venv / "lib" / python / "site-packages" / "delivery_linkage"

    def linkage(self, settings, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG", "DBT_", "LINKAGE_", "PYTEST", "VIRTUAL_ENV", "PYTHON"))
        }
        env.update(settings.libpq_env(), XDG_DATA_HOME=str(self.home), DO_NOT_TRACK="1")
        env.update(extra_env or {})
        return subprocess.run(
            [str(self.venv / "bin" / "linkage"), *args],
            cwd=self.workdir, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


def clean_copy_of_the_checkout(destination: Path) -> Path:
    """This checkout's files as a clean clone would hold them (tracked and new files, ignored ones left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=CHECKOUT_DIR, capture_output=True, text=True,
    )  # fmt: skip
    if listed.returncode != 0:
        pytest.skip("this checkout is not a git work tree")
    for name in filter(None, listed.stdout.split("\0")):
        source = CHECKOUT_DIR / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def files_under(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel-install")
    source = clean_copy_of_the_checkout(root / "source")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(root / "dist"), str(source)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("delivery_linkage-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-4000:]
    (root / "elsewhere").mkdir()
    return Installed(source=source, wheel=wheel, venv=venv, home=root / "xdg", workdir=root / "elsewhere")


def test_the_wheel_carries_the_dbt_project_and_the_suites_and_no_developer_tool(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    packaged = {name.removeprefix("delivery_linkage/project/") for name in names if "/project/" in name}
    for folder in ("macros", "models", "data-tests", "analyses", "gx/expectations"):
        in_source = {f"{folder}/{name}" for name in files_under(installed.source / folder)}
        assert in_source and in_source <= packaged, f"{folder}: {sorted(in_source - packaged)[:5]}"
    assert {"dbt_project.yml", "profiles.example.yml", "scripts/daily-delivery-integrity-check.sql"} <= packaged
    tops = {name.split("/")[0] for name in names}
    (metadata,) = tops - {"delivery_linkage"}
    assert "delivery_linkage" in tops and metadata.endswith(".dist-info")
    assert not [name for name in names if "devtools" in name or name.startswith(("tests/", "bench/"))]
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "delivery_linkage.commands" not in zipfile.ZipFile(installed.wheel).read(entry_points).decode()


def test_the_installed_linkage_works_from_another_directory_against_a_new_database(installed, bare_app_db):
    before = files_under(installed.package)
    linkage = installed.linkage
    data_dir = installed.home / "delivery_linkage"

    help_text = linkage(bare_app_db, "--help")
    assert help_text.returncode == 0, help_text.stderr
    listed = {line.split()[0] for line in help_text.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert set(PRODUCT_COMMANDS) <= listed and not listed & set(DEVELOPER_COMMANDS)

    where = linkage(bare_app_db, "project-dir")
    assert Path(where.stdout.strip()) == installed.package / "project", where.stderr
    assert Path(linkage(bare_app_db, "project-dir", "--output").stdout.strip()) == data_dir

    # the linkage is deployed and the models built through the installed package's dbt project
    run = linkage(bare_app_db, "dbt", "run")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "OK hook: delivery_linkage.on-run-start" in run.stdout and "ERROR=0" in run.stdout

    with psycopg.connect(bare_app_db.conninfo(), autocommit=True) as conn:
        runbook_world.build(conn, 71, 3)  # the runbook's situation: 3 of 71 linkable but NULL
        before_backfill = conn.execute("select now()").fetchone()[0]

    critical = linkage(bare_app_db, "check", "--json")
    figures = json.loads(critical.stdout)
    assert critical.returncode == 2, critical.stderr
    assert (figures["total_deliveries"], figures["inconsistent_deliveries"], figures["inconsistency_percentage"]) == (
        71, 3, 4.23,
    )  # fmt: skip

    failing = linkage(bare_app_db, "validate", "--json")
    assert failing.returncode in (1, 2), failing.stderr[-3000:]  # the suites, read from the package, see it
    summary = json.loads(failing.stdout)
    assert "marts_delivery_integrity" in [s["name"] for s in summary["suites"] if not s["success"]]
    assert Path(summary["data_docs_index"]) == data_dir / "gx" / "uncommitted" / "data_docs" / "index.html"

    dry = linkage(bare_app_db, "backfill", "--dry-run")
    assert dry.returncode == 0 and "3 would link" in dry.stdout, dry.stderr
    backfilled = linkage(bare_app_db, "backfill")
    assert backfilled.returncode == 0, backfilled.stderr
    assert "Before: 3 inconsistent deliveries (4.23%)  After: 0 (0.00%)" in backfilled.stdout

    swept = linkage(bare_app_db, "sweep", "--once")
    assert swept.returncode == 0 and "0 queue entries waiting" in swept.stdout, swept.stdout + swept.stderr

    healthy = linkage(bare_app_db, "check", "--json")
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["inconsistent_deliveries"] == 0, healthy.stderr
    passing = linkage(bare_app_db, "validate")
    assert passing.returncode == 0, passing.stdout[-3000:]
    assert "2 runs kept" in passing.stdout  # the GX results accumulate in the data directory
    tested = linkage(bare_app_db, "dbt", "test")
    assert tested.returncode == 0 and "ERROR=0" in tested.stdout, tested.stdout[-4000:]

    report = linkage(bare_app_db, "report", "--out", "linkage-report.html")
    assert report.returncode == 0, report.stderr
    page = (installed.workdir / "linkage-report.html").read_text()
    assert 'data-health="healthy"' in page and ">71<" in page

    rolled_back = linkage(bare_app_db, "rollback", "--since", before_backfill.isoformat())
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert "3 found, 3 unlinked" in rolled_back.stdout
    assert linkage(bare_app_db, "check").returncode == 2

    # nothing was written inside the installed package, nor in the working directory but the report
    assert files_under(installed.package) == before
    assert files_under(installed.workdir) == {"linkage-report.html"}
    assert (data_dir / "target" / "manifest.json").exists() and (data_dir / "logs" / "dbt.log").exists()


def test_the_installed_linkage_names_the_cause_and_the_fix_when_the_project_is_not_there(installed, bare_app_db):
    nowhere = installed.workdir.parent / "not-a-project"
    nowhere.mkdir(exist_ok=True)
    result = installed.linkage(bare_app_db, "validate", "--json", extra_env={"LINKAGE_PROJECT_DIR": str(nowhere)})
    assert result.returncode == 3
    error = json.loads(result.stdout)
    assert str(nowhere) in error["error"] and "LINKAGE_PROJECT_DIR" in error["error"]
    assert "checkout" in error["fix"]
    status = installed.linkage(bare_app_db, "db", "status")  # the embedded server would live in the data directory
    assert status.returncode == 1 and str(installed.home / "delivery_linkage" / ".pgdata") in status.stdout
