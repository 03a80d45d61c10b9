"""`linkage validate`: the Great Expectations suites in gx/expectations/ against a real database."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from delivery_linkage import validation
from delivery_linkage.database import connection, dbt_runner
from delivery_linkage.operations import backfill
from delivery_linkage_devtools import synthetic, traffic
from delivery_linkage_devtools.testing import runbook_world
from offline_browser import CHROMIUM, dump_dom

pytestmark = pytest.mark.dbt
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium missing: apt-get install -y chromium (Debian package)"
)


def dbt_run(settings) -> None:
    dbt_runner.run_dbt(["run"], settings, target_path="target/pytest_gx").check()


def failed(summary: validation.ValidationSummary) -> set[tuple[str, str, str | None]]:
    return {(f.suite, f.expectation_type, f.column) for f in summary.failures}


def test_every_suite_file_names_its_data_asset_and_is_a_gx_suite():
    suites = validation.load_suites()
    assert {s.name for s in suites} == {p.stem for p in validation.suites_dir().glob("*.json")}
    assert [s.layer for s in suites] == sorted(
        (s.layer for s in suites), key=lambda layer: layer != "sources"
    )
    for suite in suites:
        assert suite.query().lstrip().startswith("select "), suite.name
        assert suite.definition["expectations"], suite.name
        for expectation in suite.definition["expectations"]:
            assert expectation["type"].startswith("expect_"), (suite.name, expectation)


def test_a_healthy_database_passes_every_suite_and_writes_data_docs(app_db, db, tmp_path):
    synthetic.generate(db, synthetic.WorldShape(deliveries=3000))
    backfill.run(db)  # the synthetic history holds linkable-but-NULL deliveries: repair them first
    traffic.play(db)  # trigger attempts and guest-link backfills in the audit trail
    dbt_run(app_db)
    progress = []

    summary = validation.run_validation(
        app_db, tmp_path / "docs", progress=lambda *args: progress.append(args)
    )

    assert summary.exit_status == 0, "\n".join(summary.lines())
    assert {s.name for s in summary.suites} == {s.name for s in validation.load_suites()}
    assert all(s.evaluated >= 2 for s in summary.suites)
    assert progress[-1] == ("data docs", len(summary.suites), len(summary.suites))
    index = tmp_path / "docs" / "index.html"
    assert summary.data_docs_index == index and index.exists()
    html = index.read_text()
    assert "delivery_linkage validation" in html and "all suites pass" in html
    for suite in summary.suites:
        assert suite.name in html
        assert suite.docs_page is not None and suite.docs_page.exists(), suite.name
    assert json.loads(json.dumps(summary.as_dict()))["exit_status"] == 0
    assert summary.status == "healthy" and summary.critical_pct == 1.0  # the models' threshold


def test_the_marts_suite_gives_the_checks_verdict_by_severity(app_db, db, tmp_path):
    """The runbook's situation (4.23 %) is critical for the GX suite as for `linkage check` (exit 2);
    with a threshold of 5 both say warning (exit 1)."""
    from delivery_linkage.operations import check as integrity

    runbook_world.build(db, total=71, defects=3)  # 4.23 %
    dbt_run(app_db)

    summary = validation.run_validation(app_db, tmp_path / "docs")

    assert (summary.status, summary.exit_status) == ("critical", 2)
    assert (summary.status, summary.exit_status) == (integrity.check(db).status, integrity.check(db).exit_status)
    assert failed(summary) == {
        ("marts_delivery_integrity", "expect_column_values_to_be_between", "inconsistency_percentage"),
        ("marts_delivery_integrity", "expect_column_values_to_be_between", "inconsistent_deliveries"),
    }
    assert {f.severity for f in summary.failures} == {"critical", "warning"}
    assert "failures" in summary.data_docs_index.read_text()
    assert any("FAIL  marts_delivery_integrity" in line for line in summary.lines())

    relaxed = validation.run_validation(app_db, tmp_path / "docs", critical_pct=5.0)
    assert (relaxed.status, relaxed.exit_status) == ("warning", 1), "\n".join(relaxed.lines())
    assert relaxed.status == integrity.check(db, critical_pct=5.0).status


def test_bad_source_data_and_a_gap_in_the_history_fail_their_suites(app_db, db, tmp_path):
    runbook_world.build(db, total=71, defects=0)
    event = db.execute("select event_id from messages limit 1").fetchone()[0]
    message = db.execute("select id from messages limit 1").fetchone()[0]
    # five active guests of one event sharing a phone, five phones that do not normalize
    db.execute(
        "insert into event_guests (event_id, phone) select %s, '+14155550999' from generate_series(1, 5)",
        (event,),
    )
    db.execute(
        "insert into event_guests (event_id, phone) select %s, 'call me' from generate_series(1, 5)", (event,)
    )
    # deliveries naming guests that do not exist (well above 1 %), with phones that do not normalize
    for _ in range(5):
        db.execute(
            "insert into message_deliveries (message_id, guest_id, phone_number) values (%s, %s, 'n/a')",
            (message, uuid.uuid4()),
        )
    # audit rows no version of the linkage writes (straight into its storage)
    db.execute(
        "insert into delivery_linkage.link_attempts (table_name, outcome, reason, record_ids) "
        "values ('message_deliveries_rollback', 'linked', 'made_up', array[gen_random_uuid()]), "
        "('message_deliveries', 'maybe', 'guest_record', array[gen_random_uuid()])"
    )
    dbt_run(app_db)
    history = f"{validation.marts_schema()}.delivery_integrity_history"
    db.execute(
        f"insert into {history} "
        "(check_timestamp, total_deliveries, inconsistent_deliveries, inconsistency_percentage, health_status, "
        "critical_pct) select check_timestamp - interval '3 days', total_deliveries, inconsistent_deliveries, "
        f"inconsistency_percentage, health_status, critical_pct from {history}"
    )

    summary = validation.run_validation(app_db, tmp_path / "docs")

    assert (summary.status, summary.exit_status) == ("warning", 1)  # data quality: warnings
    assert failed(summary) == {
        ("app_guest_phones", "expect_column_values_to_not_be_null", "normalized_phone"),
        ("app_guest_phones", "expect_compound_columns_to_be_unique", "event_id, normalized_phone"),
        ("app_delivery_phones", "expect_column_values_to_not_be_null", "normalized_phone"),
        ("app_delivery_references", "expect_column_values_to_be_in_set", "guest_reference"),
        ("app_user_link_audit", "expect_column_values_to_be_in_set", "outcome"),
        ("app_user_link_audit", "expect_column_values_to_be_in_set", "reason"),
        ("app_user_link_audit", "expect_column_values_to_be_in_set", "table_and_outcome"),
        ("marts_integrity_history", "expect_column_values_to_be_between", "hours_since_previous_check"),
    }, "\n".join(summary.lines())
    gap = next(f for f in summary.failures if f.suite == "marts_integrity_history")
    assert "72" in gap.observed


def test_missing_models_stop_the_validation_with_the_fix(app_db, tmp_path):
    with pytest.raises(validation.ValidationSetupError, match="dbt run"):
        validation.run_validation(app_db, tmp_path / "docs")
    assert not (tmp_path / "docs").exists()


def test_an_unreachable_database_names_the_cause(server, tmp_path):
    settings = server.with_database(f"linkage_test_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(connection.ConnectionError_, match="cannot connect"):
        validation.run_validation(settings, tmp_path / "docs")


def test_validate_twice_keeps_both_named_runs_and_indexes_them(modeled_app_db, tmp_path):
    """`linkage validate` keeps its results in a file-based context: the second run's Data Docs
    list both runs, each under its own name."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    docs = tmp_path / "docs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | modeled_app_db.libpq_env()
    command = [str(Path(sys.executable).with_name("linkage")), "validate", "--json", "--docs-dir", str(docs)]
    runs = []
    for _ in range(2):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))  # the JSON is the last line

    first, second = runs
    assert (first["runs_kept"], second["runs_kept"]) == (1, 2)
    assert first["run_name"] != second["run_name"]
    assert first["run_name"].startswith("linkage-validate-")
    assert second["context_dir"] == str(tmp_path / "context")
    kept = list((tmp_path / "context").rglob("uncommitted/validations/**/*.json"))
    assert len(kept) == 2 * len(second["suites"])
    index = (docs / "index.html").read_text()
    for run in runs:
        assert run["run_name"] in index
        # the index links every run's result page of every suite
        pages = re.findall(rf'href="(runs/{run["run_name"]}/[^"]*\.html)"', index)
        assert len(set(pages)) == len(run["suites"]) and all((docs / page).exists() for page in pages)


@needs_chromium
def test_the_data_docs_render_offline_call_no_host_and_fill_their_status_column(modeled_app_db, tmp_path):
    """Opened with the network off, the index and a suite's page ask for nothing outside (no CDN, no logo,
    no analytics) and show every suite's status; a page that loads a CDN is caught by the same check."""
    docs = tmp_path / "docs"
    summary = validation.run_validation(modeled_app_db, docs)
    marts_page = next(s.docs_page for s in summary.suites if s.name == "marts_delivery_integrity")
    for page in (docs / "index.html", marts_page):
        html = page.read_text()
        assert not re.search(r"(https?:)?//", re.sub(r'xmlns="http://www.w3.org/[^"]*"', "", html)), page
        dom, requested = dump_dom(page, tmp_path / "profile")
        assert requested == [], page
        statuses = re.findall(r'<td class="status-cell"><span class="status"[^>]*>([^<]+)</span>', dom)
        expected = len(summary.suites) if page.name == "index.html" else 6
        assert len(statuses) >= expected and all(s.strip() for s in statuses), page
        assert all(s.startswith("PASS") for s in statuses[:expected]), statuses
    cdn = tmp_path / "cdn.html"
    cdn.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.example.com/bootstrap.css">'
        '</head><body><img src="https://assets.example.com/logo.png?dataContextId=1"></body></html>'
    )
    _, caught = dump_dom(cdn, tmp_path / "profile-cdn")
    assert sorted(caught) == ["https://assets.example.com/logo.png?dataContextId=1", "https://cdn.example.com/bootstrap.css"]
