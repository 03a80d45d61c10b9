"""dbt docs for real: `dbt docs generate` on an app database, and every node of the project described.

Lint (sqlfluff with the dbt templater, ruff) runs in `make lint`, which `make test` runs first.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid

import pytest

from delivery_linkage.database import dbt_runner
from delivery_linkage.project import project_dir
from delivery_linkage_devtools import app_fixture

pytestmark = pytest.mark.dbt
TARGET = "target/pytest_docs"
PACKAGE = "delivery_linkage"

# Who reads which mart (models/exposures.yml): what each consumer's code reads must be in its lineage.
EXPOSURE_DEPENDENCIES = {
    "linkage_html_report": {
        "daily_integrity_check",
        "delivery_categories",
        "delivery_integrity_history",
        "test_result_history",
        "link_attempts_daily",
        "backfill_activity_daily",
        "ambiguous_phone_groups",
        "delivery_link_conflicts",
    },
    "linkage_daily_check": {"daily_integrity_check", "delivery_categories"},
    "linkage_gx_suites": {
        "daily_integrity_check",
        "delivery_integrity_history",
        "app.event_guests",
        "app.message_deliveries",
        "app.messages",
        "app.user_link_audit",
    },
}


def described(node: dict) -> bool:
    return bool((node.get("description") or "").strip())


@pytest.fixture(scope="module")
def docs(server, template_database):
    """manifest.json and catalog.json of `dbt run` + `dbt docs generate` on a fresh app database."""
    name = f"linkage_test_docs_{uuid.uuid4().hex[:12]}"
    app_fixture.create_database(server, name, template=template_database)
    try:
        settings = server.with_database(name)
        shutil.rmtree(dbt_runner.target_dir(TARGET), ignore_errors=True)
        dbt_runner.run_dbt(["run"], settings, target_path=TARGET).check()
        # a full parse: a partial parse after YAML edits can drop singular tests' descriptions (dbt 1.11)
        dbt_runner.run_dbt(["docs", "generate", "--no-partial-parse"], settings, target_path=TARGET).check()
    finally:
        app_fixture.drop_database(server, name)
    target = dbt_runner.target_dir(TARGET)
    assert (target / "index.html").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    return manifest, json.loads((target / "catalog.json").read_text())


def own(nodes: dict, resource_type: str | None = None) -> dict:
    return {
        uid: node
        for uid, node in nodes.items()
        if node.get("package_name") == PACKAGE
        and (resource_type is None or node["resource_type"] == resource_type)
    }


def test_every_model_and_every_column_the_database_has_is_described(docs):
    manifest, catalog = docs
    models = own(manifest["nodes"], "model")
    assert len(models) >= 19
    assert [uid for uid, model in models.items() if not described(model)] == []
    undescribed = []
    for uid, model in models.items():
        documented = {name.lower() for name, column in model["columns"].items() if described(column)}
        undescribed += [f"{uid}.{name}" for name, column in model["columns"].items() if not described(column)]
        assert uid in catalog["nodes"], f"{uid} not built"
        undescribed += [
            f"{uid}.{name}" for name in catalog["nodes"][uid]["columns"] if name.lower() not in documented
        ]
    assert undescribed == []


def test_every_source_table_and_declared_column_is_described(docs):
    manifest, catalog = docs
    sources = own(manifest["sources"])
    assert {s["name"] for s in sources.values()} >= {
        "users",
        "events",
        "event_guests",
        "messages",
        "message_deliveries",
        "feature_flags",
        "user_link_audit",
    }
    for uid, source in sources.items():
        assert source["source_description"].strip(), uid
        assert described(source), uid
        assert source["columns"], f"{uid} declares no columns"
        assert [name for name, column in source["columns"].items() if not described(column)] == [], uid
        # the declared columns are the contract: each exists in the database
        in_database = {name.lower() for name in catalog["sources"][uid]["columns"]}
        assert set(source["columns"]) <= in_database, uid


def test_every_macro_and_its_arguments_are_described(docs):
    manifest, _ = docs
    macros = own(manifest["macros"])
    names = {m["name"] for m in macros.values()}
    # the deploy entry point, its objects, the operations, the metrics and the utilities
    assert {
        "deploy_linkage",
        "deploy",
        "normalize_phone",
        "backfill_deliveries",
        "rollback_links",
        "set_feature_flag",
        "linkage_health_status",
        "linkage_run_committed",
    } <= names
    assert sorted(m["name"] for m in macros.values() if not described(m)) == []
    undescribed = [
        f"{m['name']}({a['name']})" for m in macros.values() for a in m["arguments"] if not described(a)
    ]
    assert undescribed == []
    # every argument in a macro's signature is documented
    undocumented = []
    for macro in macros.values():
        if macro["name"].startswith("materialization_"):  # a materialization takes no arguments
            continue
        signature = re.search(r"(?:macro|test)\s+\w+\s*\((.*?)\)\s*-?%}", macro["macro_sql"], re.S).group(1)
        taken = {arg.split("=")[0].strip() for arg in signature.split(",") if arg.strip()}
        documented = {a["name"] for a in macro["arguments"]}
        undocumented += [f"{macro['name']}({arg})" for arg in sorted(taken - documented)]
    assert undocumented == []


def test_every_test_analysis_and_exposure_is_described(docs):
    manifest, _ = docs
    tests = own(manifest["nodes"], "test")
    singular = [uid for uid, t in tests.items() if not t.get("test_metadata")]
    assert len(singular) >= 7
    assert sorted(uid for uid, t in tests.items() if not described(t)) == []
    assert sorted(uid for uid, t in own(manifest.get("unit_tests", {})).items() if not described(t)) == []
    analyses = own(manifest["nodes"], "analysis")
    assert analyses and sorted(uid for uid, a in analyses.items() if not described(a)) == []
    # the hooks (operation nodes from dbt_project.yml) cannot carry a description in dbt; the macros
    # they call (deploy_linkage, linkage_refuse_builds_on_hot_standby, linkage_store_run_results) are
    # described (test above)
    hooks = own(manifest["nodes"], "operation")
    assert sorted(h["name"] for h in hooks.values()) == [
        "delivery_linkage-on-run-end-0",
        "delivery_linkage-on-run-start-0",
        "delivery_linkage-on-run-start-1",
    ]


def test_exposures_show_who_reads_which_mart(docs):
    manifest, _ = docs
    exposures = {e["name"]: e for e in own(manifest["exposures"]).values()}
    assert set(exposures) == set(EXPOSURE_DEPENDENCIES)
    for name, exposure in exposures.items():
        assert described(exposure), name
        assert exposure["owner"].get("name") or exposure["owner"].get("email"), name
        depends_on = set()
        for uid in exposure["depends_on"]["nodes"]:
            parts = uid.split(".")
            depends_on.add(".".join(parts[2:]) if parts[0] == "source" else parts[-1])
        assert EXPOSURE_DEPENDENCIES[name] <= depends_on, name


def test_the_docs_site_opens_on_the_projects_overview(docs):
    manifest, _ = docs
    overview = manifest["docs"]["doc.delivery_linkage.__overview__"]["block_contents"]
    for words in ("# delivery_linkage", "## The flows", "## Reading the health status", "delivery category",
                  "runbook_difference", "one verdict"):  # fmt: skip
        assert words in overview


def test_one_column_name_has_one_description_in_every_model(docs):
    manifest, _ = docs
    descriptions: dict[str, set[str]] = {}
    for model in own(manifest["nodes"], "model").values():
        for name, column in model["columns"].items():
            descriptions.setdefault(name, set()).add(column["description"].strip())
    assert {name: texts for name, texts in descriptions.items() if len(texts) > 1} == {}
    assert len(descriptions) >= 100


def test_descriptions_are_persisted_on_the_relations_and_columns(docs):
    """What `dbt docs generate` shows, psql's \\d+ and BI tools show too (persist_docs)."""
    manifest, catalog = docs
    models = own(manifest["nodes"], "model")
    for uid in models:
        stats = catalog["nodes"][uid]["metadata"]
        assert (stats.get("comment") or "").strip(), f"{uid} has no comment in the database"
        commented = {
            name.lower() for name, column in catalog["nodes"][uid]["columns"].items() if (column.get("comment") or "")
        }
        assert commented == {name.lower() for name in catalog["nodes"][uid]["columns"]}, uid


def test_make_docs_and_the_readme_lines_work_right_after_the_demo(modeled_app_db, tmp_path):
    """With nothing but the checkout (no ~/.dbt, no DBT_PROFILES_DIR): `make docs` writes the static dbt
    docs site, and the README's `eval "$(.venv/bin/linkage db env)"` lets dbt find its profile."""
    import os
    import subprocess

    readme = (project_dir() / "README.md").read_text()
    assert 'eval "$(.venv/bin/linkage db env)"' in readme and "make docs" in readme
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DBT_PROFILES"))}
    env |= modeled_app_db.libpq_env() | {"HOME": str(tmp_path)}  # a home without ~/.dbt
    page = project_dir() / "target" / "docs" / "static_index.html"
    page.unlink(missing_ok=True)
    made = subprocess.run(
        ["make", "--no-print-directory", "docs", "DOCS_OPEN=no"], cwd=project_dir(), env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert f"dbt docs: {page}" in made.stdout and page.exists()
    html = page.read_text()
    assert "daily_integrity_check" in html and '"send_anonymous_usage_stats": false' in html.replace("\\", "")
    debug = subprocess.run(
        ["bash", "-c", 'eval "$(.venv/bin/linkage db env)" && .venv/bin/dbt debug'], cwd=project_dir(), env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert debug.returncode == 0, debug.stdout[-3000:]
    assert "All checks passed" in debug.stdout
