"""The benchmark machinery at a tiny size: well-formed results, and variants that agree.

No timing is asserted: only that every workload was measured for every variant it concerns, that the
linking variants (project, baseline, and the references ideal app and minimal trigger where they take
part) produced the same links, and the audited ones the same audit rows, that the ratios to the
references are reported where the targets need them, that the audit's bytes per attempt were measured,
that the integrity figures of the model and the runbook's query are identical, and that nothing is left
behind. The tiny run's minimal trigger is slowed on purpose (a prepare hook): the run must be flagged
for it and written to the flagged directory, not published. The drift rules themselves are checked on
made-up samples.
"""

from __future__ import annotations

import json
import os

import pytest
from rich.console import Console

from delivery_linkage.database import connection
from delivery_linkage_devtools import app_fixture, bench
from delivery_linkage_devtools.bench import results as bench_report

pytestmark = pytest.mark.dbt

# the workloads of the write world as the results name them (audit_storage's sends are linked_sends)
WRITE_WORKLOADS = set(bench.WORKLOADS) - {"integrity", "audit_storage", "big_world"} | {"linked_sends"}
# the workloads the references (ideal app, minimal trigger) take part in
WITH_REFERENCES = set(bench.REFERENCE_WORKLOADS) - {"audit_storage"} | {"linked_sends"}
AUDIT_ATTEMPTS = 600
USER_DELETE_DELIVERIES = 300


def slow_minimal_trigger() -> str:
    """bench/minimal_trigger.sql's function, half a millisecond slower a row: a reference that drifted."""
    sql = bench.MINIMAL_TRIGGER_SQL.read_text()
    function = sql[sql.index("create function") : sql.index("$function$;") + len("$function$;")]
    slowed = function.replace("\nbegin\n", "\nbegin\n    perform pg_catalog.pg_sleep(0.0005);\n", 1)
    assert slowed != function, "bench/minimal_trigger.sql's function body no longer starts with `begin`"
    return slowed.replace("create function", "create or replace function", 1)


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
        name_edits=6,
        user_deletes=1,
        user_delete_deliveries=USER_DELETE_DELIVERIES,
        user_delete_events=2,
        bulk_link_guests=40,
        single_links=5,
        audit_attempts=AUDIT_ATTEMPTS,
        prefix=prefix,
        output_dir=output / "published",
        flagged_dir=output / "flagged",
        prepare={"minimal_trigger": slow_minimal_trigger()},
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
        references = {"ideal_app", "minimal_trigger"} if key in WITH_REFERENCES else set()
        assert set(summaries) == {"floor", "project", "baseline"} | references, key
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
        "guest name edits: project does no linking work",
        "guest name edits: same guests in every variant",
        "user deletions: same deliveries in every variant",
        "user deletions: every deleted user's delivery lost its user in every variant",
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


def test_references_link_the_same_user_ids_as_the_project(tiny_run):
    checks = {c["name"]: c for c in tiny_run["document"]["checks"]}
    for workload in ("announcement sends", "single-row insert (one transaction)", "sends to linked guests"):
        check = checks[f"{workload}: same user_id in every linking variant"]
        assert check["passed"], check
        assert "ideal_app" in check["detail"] and "minimal_trigger" in check["detail"], check
    # every delivery of a send to linked guests links, in the references too: they do link
    linked = checks["sends to linked guests: every delivery linked in every linking variant"]
    assert linked["passed"], linked
    # the references write no audit; the audited variants are compared among themselves
    assert "ideal_app" not in checks["announcement sends: same audit rows (outcome, reason, candidates…)"]["detail"]


def test_ratios_to_the_references_are_reported_where_the_targets_need_them(tiny_run):
    workloads = {w["key"]: w for w in tiny_run["document"]["workloads"]}
    send = workloads["announcement_sends"]
    assert send["target"]["reference"] == "minimal_trigger" and send["target"]["max_ratio"] == 1.15
    assert send["target_ratio"] == send["ratios_vs"]["minimal_trigger"]["project"] > 0
    assert send["ratios_vs"]["ideal_app"]["minimal_trigger"] > 0  # the minimal trigger vs the ideal app
    assert send["ratios"]["minimal_trigger"] > 0 and send["ratios"]["ideal_app"] > 0  # … and vs the floor
    assert "minimal_trigger" not in send["ratios_vs"]["minimal_trigger"]
    for key, reference, max_ratio in (
        ("single_inserts", "floor", 1.3),
        ("status_updates", "floor", 1.03),
        ("guest_name_edits", "floor", 1.03),
        ("user_deletes", "floor", 2.0),
        ("bulk_guest_link", "floor", 1.2),  # the floor runs the one set-based UPDATE there
    ):
        assert (workloads[key]["target"]["reference"], workloads[key]["target"]["max_ratio"]) == (reference, max_ratio)
        assert workloads[key]["target_ratio"] == workloads[key]["ratios"]["project"]
    assert set(tiny_run["document"]["targets_met"]) >= {
        "announcement_sends",
        "single_inserts",
        "status_updates",
        "guest_name_edits",
        "user_deletes",
        "bulk_guest_link",
        "audit_table_bytes_per_attempt",
    }


def test_audit_bytes_per_attempt_are_measured_over_sends_to_linked_guests(tiny_run):
    storage = tiny_run["document"]["audit_storage"]
    assert storage["target_table_bytes_per_attempt"] == 40 and "VACUUM" in storage["method"]
    variants = storage["variants"]
    assert set(variants) == {"floor", "ideal_app", "minimal_trigger", "project", "baseline"}
    for growth in variants.values():
        assert growth["attempts"] >= AUDIT_ATTEMPTS and growth["deliveries_table_bytes"] > 0
    # the references and the floor own no table; the audited variants' own tables grew
    for name in ("floor", "ideal_app", "minimal_trigger"):
        assert variants[name]["relations"] == {} and variants[name]["table_bytes"] == 0, name
    baseline = variants["baseline"]
    assert "public.user_link_audit" in baseline["relations"]
    # one row per attempt of a dozen columns (three uuids, a phone, texts): well over a record id's 16 bytes
    assert 100 < baseline["table_bytes_per_attempt"] < 400, baseline
    assert baseline["index_bytes_per_attempt"] > 0
    project = variants["project"]
    assert project["table_bytes"] > 0 and project["audit_rows"] == project["attempts"]
    checks = {c["name"]: c["passed"] for c in tiny_run["document"]["checks"]}
    assert checks["audit storage: project presents one audit row per attempt"]
    assert checks["audit storage: baseline presents one audit row per attempt"]


def test_a_user_deletion_clears_the_same_deliveries_everywhere_and_is_timed_per_variant(tiny_run):
    deletes = next(w for w in tiny_run["document"]["workloads"] if w["key"] == "user_deletes")
    assert f"{USER_DELETE_DELIVERIES:,} deliveries in 2 events" in deletes["label"]
    assert deletes["extra"]["rounds"] == 2
    for summary in deletes["summaries"].values():
        assert summary["n"] == 2  # one deletion a round, two measured rounds, in every variant


def test_a_drifted_reference_flags_the_run_instead_of_publishing_it(tiny_run):
    drift = tiny_run["document"]["drift"]
    assert drift["flagged"] is True
    minimal = next(c for c in drift["checks"] if c["rule"] == "minimal_trigger")
    assert minimal["passed"] is False and minimal["value"] > bench_report.MINIMAL_TRIGGER_SEND_RATIOS[1], minimal
    assert any(reason.startswith("minimal_trigger / announcement_sends") for reason in drift["reasons"])
    assert set(drift["rules"]) == {"minimal_trigger", "null_references", "floor_spread"}
    # the references doing the floor's work are checked, and the floor's rounds
    assert {(c["rule"], c["workload"]) for c in drift["checks"]} >= {
        ("null_references", "status_updates"),
        ("null_references", "guest_name_edits"),
        ("floor_spread", "announcement_sends"),
        ("floor_spread", "user_deletes"),
    }
    assert (tiny_run["output"] / "flagged" / "latest.json").exists()
    assert not (tiny_run["output"] / "published").exists(), "a flagged run is never published"
    text = tiny_run["console"].export_text(clear=False)
    assert "FLAGGED" in text and "minimal_trigger / announcement_sends" in text


def test_results_are_written_and_printed(tiny_run):
    written = json.loads((tiny_run["output"] / "flagged" / "latest.json").read_text())
    assert written["workloads"] == json.loads(json.dumps(tiny_run["document"]["workloads"], default=str))
    assert written["machine"]["nproc"] and written["machine"]["postgres"].startswith("PostgreSQL")
    assert len(written["machine"]["load_average_start"]) == len(written["machine"]["load_average_end"]) == 3
    assert written["command"] and written["drift"]["flagged"] is True
    assert set(written["targets_met"]) >= {"announcement_sends", "status_updates", "historical_backfill"}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        assert (tiny_run["output"] / "flagged" / "latest.png").stat().st_size > 0
    text = tiny_run["console"].export_text(clear=False)
    assert "announcement send" in text and "checks:" in text
    assert "ideal app" in text and "minimal trigger" in text and "≤ 1.15× minimal trigger" in text
    assert "guest name edit" in text and "user deletion" in text and "≤ 2× floor" in text
    assert "audit storage per attempt" in text and "load average" in text


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


def test_a_target_against_another_reference_uses_that_reference():
    workload = bench_report.Workload(
        "w",
        "w",
        "floor",
        "floor",
        samples={"floor": [1, 1, 1], "minimal_trigger": [2, 2, 2], "project": [2.2, 2.2, 2.2]},
        target=bench_report.Target(1.15, "≤ 1.15× minimal trigger", "minimal_trigger"),
    )
    assert workload.ratio("project") == pytest.approx(2.2)
    assert workload.target_ratio() == pytest.approx(1.1) and workload.met() is True
    document = workload.as_dict()
    assert document["ratios_vs"]["minimal_trigger"] == {"project": pytest.approx(1.1)}
    # drawn on the floor's axis: 1.15 × the minimal trigger's 2×
    assert bench_report.chart_target(document) == pytest.approx(2.3)
    workload.samples["project"] = [2.4, 2.4, 2.4]
    assert workload.met() is False


def test_storage_growth_per_attempt_and_target():
    growth = bench_report.StorageGrowth(
        "project", 1000, 4, 36_864, 8192, 49_152, 0, 200_000, 100_000, 1000, {"x.audit": {"table_bytes": 36_864}}
    )
    assert growth.per_attempt(growth.table_bytes) == pytest.approx(36.864) and growth.met(40) is True
    assert growth.as_dict()["index_bytes_per_attempt"] == pytest.approx(8.192)
    assert bench_report.StorageGrowth("project", 1000, 4, 40_960 + 8192, 0, 0, 0, 0, 0).met(40) is None
    assert bench_report.StorageGrowth("project", 1000, 4, 48_000, 0, 0, 0, 0, 0, 1000, {"x": {}}).met(40) is False


def drift_workloads(floor: list[float], minimal_send: float = 1.1, null_reference: float = 1.0) -> list:
    """Workloads as a run measures them: announcement sends (the ideal app at 1.4× the floor, the minimal
    trigger at `minimal_send`× the ideal app) and status updates (the references at `null_reference`× the
    floor), two rounds of `floor` samples each."""
    ideal = [v * 1.4 for v in floor]
    send = bench_report.Workload(
        "announcement_sends",
        "send",
        "floor",
        "no linkage",
        samples={
            "floor": floor,
            "ideal_app": ideal,
            "minimal_trigger": [v * minimal_send for v in ideal],
            "project": floor,
        },
        extra={"rounds": 2},
    )
    updates = bench_report.Workload(
        "status_updates",
        "update",
        "floor",
        "no linkage",
        samples={
            "floor": floor,
            "ideal_app": [v * null_reference for v in floor],
            "minimal_trigger": [v * null_reference for v in floor],
            "project": floor,
        },
        extra={"rounds": 2},
    )
    return [send, updates]


def test_drift_rules_pass_steady_references_and_flag_each_kind_of_drift():
    steady = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.1]
    assert all(check.passed for check in bench_report.drift_checks(drift_workloads(steady)))

    def failed(workloads) -> set[tuple[str, str]]:
        return {(c.rule, c.workload) for c in bench_report.drift_checks(workloads) if not c.passed}

    assert failed(drift_workloads(steady, minimal_send=1.4)) == {("minimal_trigger", "announcement_sends")}
    assert failed(drift_workloads(steady, minimal_send=0.8)) == {("minimal_trigger", "announcement_sends")}
    assert failed(drift_workloads(steady, null_reference=1.05)) == {("null_references", "status_updates")}
    # the machine's load changed between the rounds: the second round's floor is 1.5× the first's
    slowed = steady[:4] + [v * 1.5 for v in steady[4:]]
    assert failed(drift_workloads(slowed)) == {
        ("floor_spread", "announcement_sends"),
        ("floor_spread", "status_updates"),
    }


@pytest.mark.parametrize(
    ("flags", "folder"), [(["--quick"], "bench-quick"), (["--workload", "status_updates"], "bench-partial")]
)
def test_a_smoke_run_or_a_run_of_some_workloads_never_writes_over_the_published_figures(monkeypatch, flags, folder):
    """`linkage bench --quick` and `linkage bench --workload …` write to target/, not bench/results/ (a run
    of one workload once replaced the published figures of all of them)."""
    from typer.testing import CliRunner

    from delivery_linkage.cli import app

    seen = []
    monkeypatch.setattr(bench, "run", lambda console, options: seen.append(options))
    result = CliRunner().invoke(app, ["bench", *flags])
    assert result.exit_code == 0, result.output
    (options,) = seen
    assert options.output_dir == options.flagged_dir == bench.CHECKOUT_DIR / "target" / folder
    assert options.output_dir.resolve() != bench.doc_blocks.RESULTS_DIR.resolve()
