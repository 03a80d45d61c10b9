"""The benchmark machinery at a tiny size: well-formed results, and variants that agree.

No timing is asserted: only that every workload was measured for every variant, that the linking
variants (project, baseline) produced the same links and audit rows where they must, that the
integrity figures of the model and the runbook's query are identical, and that nothing is left behind.
"""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from delivery_linkage.database import connection
from delivery_linkage.devtools import app_fixture, bench
from delivery_linkage.devtools.bench import results as bench_report

pytestmark = pytest.mark.dbt

WRITE_WORKLOADS = {
    "announcement_sends",
    "single_inserts",
    "single_inserts_phone_only",
    "status_updates",
    "bulk_guest_link",
    "single_guest_links",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    server = connection.resolve("postgres")
    prefix = f"bench_test_{os.getpid()}"
    output = tmp_path_factory.mktemp("bench")
    options = bench.BenchOptions.quick_options(
        deliveries=6_000,
        big_deliveries=8_000,
        announcements=2,
        single_inserts=6,
        phone_only_inserts=6,
        status_updates=6,
        bulk_link_guests=40,
        single_links=5,
        prefix=prefix,
        output_dir=output,
        target_path="target/bench_test",
    )
    console = Console(record=True, width=200)
    document = bench.run(console, options)
    return {"server": server, "prefix": prefix, "output": output, "document": document, "console": console}


def test_every_workload_is_measured_for_every_variant(tiny_run):
    workloads = {w["key"]: w for w in tiny_run["document"]["workloads"]}
    assert WRITE_WORKLOADS | {"integrity_write", "integrity_big", "historical_backfill"} <= set(workloads)
    for key in WRITE_WORKLOADS:
        summaries = workloads[key]["summaries"]
        assert set(summaries) == {"floor", "project", "baseline"}, key
        for summary in summaries.values():
            assert summary["n"] > 0 and 0 < summary["min"] <= summary["median"] <= summary["max"]
        assert all(ratio > 0 for ratio in workloads[key]["ratios"].values())
    backfill = workloads["historical_backfill"]
    assert {"set_based", "project", "baseline"} <= set(backfill["summaries"])
    assert backfill["extra"]["linkable"] > 0 and backfill["extra"]["longest_batch_seconds"] > 0


def test_linking_variants_agree_and_integrity_figures_are_identical(tiny_run):
    checks = tiny_run["document"]["checks"]
    failed = [c for c in checks if not c["passed"]]
    assert not failed, failed
    names = " | ".join(c["name"] for c in checks)
    for expected in (
        "announcement sends: same user_id in every linking variant",
        "announcement sends: same audit rows",
        "single-row insert (one transaction): same user_id in every linking variant",
        "status updates: project does no linking work",
        "bulk guest link: same deliveries linked",
        "identical figures (runbook, project, cron_script",
        "historical backfill: same deliveries linked by the backfill and one UPDATE",
        "historical backfill: nothing linkable left",
    ):
        assert expected in names, expected
    integrity = next(w for w in tiny_run["document"]["workloads"] if w["key"] == "integrity_write")
    figures = integrity["extra"]["figures"]
    assert figures["total_deliveries"] == tiny_run["document"]["worlds"]["write"]["message_deliveries"]
    assert figures["inconsistent_deliveries"] > 0


def test_results_are_written_and_printed(tiny_run):
    written = json.loads((tiny_run["output"] / "latest.json").read_text())
    assert written["workloads"] == json.loads(json.dumps(tiny_run["document"]["workloads"], default=str))
    assert written["machine"]["nproc"] and written["machine"]["postgres"].startswith("PostgreSQL")
    assert set(written["targets_met"]) >= {"announcement_sends", "status_updates", "historical_backfill"}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        assert (tiny_run["output"] / "latest.png").stat().st_size > 0
    text = tiny_run["console"].export_text()
    assert "announcement send" in text and "project / ref" in text and "checks:" in text


def test_no_database_is_left_behind(tiny_run):
    with connection.connect(tiny_run["server"]) as conn:
        left = conn.execute(
            "select datname from pg_database where datname like %s", (tiny_run["prefix"] + "%",)
        ).fetchall()
    assert left == []
    assert not app_fixture.database_exists(tiny_run["server"], f"{tiny_run['prefix']}_write_tpl")


def test_summary_and_paired_ratio():
    summary = bench_report.Summary.of([4.0, 1.0, 3.0, 2.0])
    assert (summary.min, summary.median, summary.max, summary.n) == (1.0, 2.5, 4.0, 4)
    workload = bench_report.Workload("w", "w", "floor", "floor", samples={"floor": [1, 2, 4], "project": [2, 4, 8]})
    assert workload.ratio("project") == pytest.approx(2.0)
    workload.target = bench_report.Target(1.5, "≤ 1.5×")
    assert workload.met() is False
