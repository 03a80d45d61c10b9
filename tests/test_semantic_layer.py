"""The runbook's three key metrics in the dbt semantic layer, queried with MetricFlow (`mf query`)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from delivery_linkage import project as linkage_project
from delivery_linkage.database import dbt_runner
from delivery_linkage_devtools.testing import world as w

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_semantic"
PROJECT_FILES = ("dbt_project.yml", "models", "macros", "data-tests", "analyses")

# `mf` asks PyPI for a newer version on every run; tests make no network calls, so the check is off.
MF = (
    "import update_checker; update_checker.UpdateChecker.check = lambda *a, **k: None; "
    "from dbt_metricflow.cli.main import cli; cli()"
)


def mf_query(settings, project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(settings.libpq_env())
    env["DBT_PROFILES_DIR"] = str(dbt_runner.profiles_dir())
    return subprocess.run(
        [sys.executable, "-c", MF, "query", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def metricflow_project(tmp_path: Path) -> Path:
    """The project as `mf` wants it (semantic_manifest.json in <project>/target/), without
    touching the checkout's target/: links to the project's files and the test's manifest."""
    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    for name in PROJECT_FILES:
        (project / name).symlink_to(linkage_project.project_dir() / name)
    built = dbt_runner.target_dir(TARGET) / "semantic_manifest.json"
    (project / "target" / "semantic_manifest.json").symlink_to(built)
    return project


def test_mf_query_gives_the_three_key_metrics(app_db, db, tmp_path):
    event = w.event(db)
    message = w.message(db, event)
    linked_guest = w.guest(db, event, w.user(db), "+14155550101")
    w.deliver(db, message, linked_guest, "+14155550101")  # trigger attempt: linked
    w.deliver(db, message, None, "+14155550199")  # trigger attempt: no_match (no candidate)
    late_guest = w.guest(db, event, None, "+14155550102")
    w.deliver(db, message, late_guest, "+14155550102")  # trigger attempt: no_match (guest not linked)
    w.deliver(db, w.message(db, event), late_guest, "+14155550102")
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    w.deliver(db, message, w.guest(db, event, w.user(db)))  # one linkable but NULL delivery
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    db.execute("update event_guests set user_id = %s where id = %s", (w.user(db), late_guest))  # 2 backfills
    w.sweep(db)
    dbt_runner.run_dbt(["run"], app_db, target_path=TARGET).check()  # also writes semantic_manifest.json
    output = tmp_path / "metrics.csv"

    result = mf_query(
        app_db,
        metricflow_project(tmp_path),
        "--metrics",
        "inconsistency_rate,trigger_success_rate,backfill_activity",
        "--group-by",
        "metric_time__day",
        "--csv",
        str(output),
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == 1, rows
    # 1 of 5 deliveries linkable but NULL; 1 of 4 trigger attempts linked; 2 backfill links
    assert float(rows[0]["inconsistency_rate"]) == pytest.approx(0.2)
    assert float(rows[0]["trigger_success_rate"]) == pytest.approx(0.25)
    assert int(float(rows[0]["backfill_activity"])) == 2
