"""`make bench-scale`'s own machinery, without a production-size world: what it writes into the README,
how it reads the server's memory, how it summarises latency, how it reads a plan.

The benchmark itself (10M and 100M deliveries) is `make bench-scale`, never part of `make test`.
"""

from __future__ import annotations

import psycopg
import pytest

from delivery_linkage.database import connection
from delivery_linkage_devtools.bench import scale

README_TEXT = """# project

text before

{begin}
old figures
{end}

text after
"""


def document(loads=(1.5, 0.5)) -> dict:
    """A results document as `scale.run` writes it, for one size (figures made up, shapes real)."""
    queries = {
        "runbook_daily_query": {"median": 40.0, "q1": 39.0, "q3": 41.0, "figures": {}},
        "original_cron_query": {"median": 30.0, "q1": 29.0, "q3": 31.0, "figures": {}},
        "delivery_integrity": {"median": 4.0, "q1": 3.9, "q3": 4.1, "figures": {}},
    }
    commands = {"linkage_check": {"median": 6.0, "q1": 5.0, "q3": 7.0, "exit_code": 1, "command": "linkage check"}}
    latency = {
        "operations": 10,
        "p50_ms": 20.0,
        "p99_ms": 40.0,
        "max_ms": 41.0,
        "lock_waits_over_limit": 0,
        "other_errors": 0,
    }
    size = {
        "deliveries": 100_000_000,
        "label": "100M",
        "load_average_start": [loads[0], 1.0, 1.0],
        "load_average_end": [loads[1], 1.0, 1.0],
        "seconds": 3000.0,
        "template": {
            "counts": {
                "message_deliveries": 100_000_000,
                "event_guests": 250_000,
                "users": 58_000,
                "events": 900,
                "messages": 360_000,
                "linkable_null": 140_000,
            },
            "size_bytes": 28 * 2**30,
            "command": "linkage generate …",
            "reused": False,
            "resumed": False,
            "build_seconds": {"rows": 600.0, "indexes": 700.0},
            "build_total_seconds": 1300.0,
            "deliveries_per_second": 76_923,
        },
        "deploy_seconds": 10.0,
        "indexes_seconds": 200.0,
        "indexes_built": 2,
        "first_build_seconds": 100.0,
        "copy_seconds": 90.0,
        "queries": queries,
        "commands": commands,
        "dbt_build": {
            "wall_seconds": 100.0,
            "dbt_elapsed_seconds": 90.0,
            "models_seconds": 60.0,
            "tests_seconds": 30.0,
            "memory": {"available": True, "peak_pss_bytes": 600 * 2**20, "peak_process_rss_bytes": 300 * 2**20},
            "temp_files": 3,
            "temp_bytes": 2**30,
            "nodes": [{"unique_id": "model.x.y", "seconds": 50.0, "status": "success"}],
        },
        "app": {
            "send_period_seconds": 0.5,
            "link_period_seconds": 1.0,
            "lock_wait_limit": "10ms",
            "quiet_seconds_each_side": 100.0,
            "no_build": {"send": dict(latency), "link": dict(latency)},
            "during_build": {"send": dict(latency, p99_ms=44.0), "link": dict(latency)},
        },
        "checks": [{"name": "a check", "passed": True, "detail": ""}],
    }
    size["ratios"] = scale.ratios(size)
    size["targets"] = scale.targets(size)
    return {
        "command": "make bench-scale",
        "generated_at": "2026-12-07T10:00:00+00:00",
        "duration_seconds": 3000.0,
        "machine": {
            "nproc": 2,
            "cpu": "AMD EPYC",
            "memory": "23.5 GiB",
            "postgres": "PostgreSQL 16.2 on x86_64",
            "server": "postgres on /tmp:5432 as postgres (embedded server)",
            "settings": {"work_mem": "4096 kB"},
        },
        "sizes": [size],
    }


def test_ratios_and_targets_follow_the_runbook_query_measured_in_the_same_run():
    size = document()["sizes"][0]
    assert size["ratios"]["delivery_integrity_to_runbook"] == pytest.approx(0.1)
    assert size["ratios"]["delivery_integrity_to_original_cron"] == pytest.approx(4 / 30, abs=1e-3)
    assert size["ratios"]["dbt_build_to_runbook"] == pytest.approx(2.5)
    assert size["ratios"]["send_p99_during_build_to_no_build"] == pytest.approx(1.1)
    assert size["targets"] == {
        "integrity_figures": True,
        "dbt_build": True,
        "send_p99_during_build": True,
        "no_app_write_waits_over_10ms": True,
        "generate_seconds": True,
    }
    size["dbt_build"]["wall_seconds"] = 121.0  # 3.03x
    size["app"]["during_build"]["send"]["lock_waits_over_limit"] = 1
    size["ratios"] = scale.ratios(size)
    missed = scale.targets(size)
    assert not missed["dbt_build"] and not missed["no_app_write_waits_over_10ms"]


def test_the_readme_block_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT.format(begin=scale.README_BEGIN, end=scale.README_END))
    block = scale.readme_block(document())
    scale.write_readme_block(readme, block)
    text = readme.read_text()
    assert text.startswith("# project\n\ntext before\n\n") and text.endswith("\n\ntext after\n")
    assert "old figures" not in text and text.count(scale.README_BEGIN) == 1
    assert "make bench-scale" in text and "0.10×" in text and "load 1.5 → 0.5" in text
    scale.write_readme_block(readme, scale.readme_block(document(loads=(3.0, 2.0))))  # again: replaced, not added
    assert readme.read_text().count(scale.README_END) == 1 and "load 3.0 → 2.0" in readme.read_text()

    readme.write_text("# project without markers\n")
    with pytest.raises(ValueError, match="no bench-scale markers"):
        scale.write_readme_block(readme, block)


def test_the_results_page_names_the_machine_the_command_and_every_check():
    page = scale.markdown(document())
    assert "make bench-scale" in page and "AMD EPYC" in page and "Load average 1.50 at the start" in page
    assert "| delivery_integrity | 4.00 s |" in page and "passed: a check" in page


def test_latency_percentiles_and_lock_waits_are_counted_per_operation():
    operations = [scale.Operation("send", 0, ms / 1000) for ms in range(1, 101)]
    operations += [scale.Operation("send", 0, 5.0, "lock_timeout"), scale.Operation("link", 0, 0.2, "QueryCanceled")]
    figures = scale.latency(operations)
    assert figures["send"] == {
        "operations": 101,
        "p50_ms": 51.0,
        "p99_ms": 99.0,
        "max_ms": 100.0,
        "lock_waits_over_limit": 1,
        "other_errors": 0,
    }
    assert figures["link"]["operations"] == 1 and figures["link"]["p50_ms"] is None
    assert figures["link"]["other_errors"] == 1


def test_the_servers_memory_is_read_from_its_processes():
    settings = connection.resolve("postgres")
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        memory = scale.ServerMemory(conn.info.backend_pid, period=0.05)
        if not memory.available:
            pytest.skip("the server does not run on this machine")
        memory.start()
        conn.execute("select count(*) from generate_series(1, 200000)")
        figures = memory.stop()
    assert figures["samples"] >= 1
    # this backend and the postmaster at least: more than one process's resident set
    assert figures["peak_pss_bytes"] > 0 and figures["peak_process_rss_bytes"] > 0
