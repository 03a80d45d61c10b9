"""A real read replica: a streaming hot standby of an embedded primary (`make test-standby`).

The primary is the embedded server (pgserver's PostgreSQL) in a data directory of its own, so the base
backup holds this test's database only and no other test's traffic; the standby is made from it with
`pg_basebackup -R` (streaming replication, hot_standby on) into another temporary data directory and
started on its own port and socket directory, as the unprivileged user "pgserver" when run as root.
After the primary's writes have been replayed, `dbt test`, `linkage check`, `report` and `validate` read
the standby: no error, the deploy skipped in one line, the primary's figures. `dbt run` and `dbt build`
on the standby stop at once, saying to run them on the primary. Both servers are stopped and their
directories removed afterwards, whatever happened. Slow (two servers, several dbt runs): opt-in, marker
`standby`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import connection, dbt_runner, embedded_server
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.testing import runbook_world

# pgserver notes that XDG_RUNTIME_DIR is unset (it then keeps its lock file under /tmp)
pytestmark = [pytest.mark.standby, pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR is not set")]

LINKAGE = str(Path(sys.executable).with_name("linkage"))
DATABASE = "app"
STANDBY_PORT = 5433  # its own socket directory as well: no TCP listener on either server
DEPLOY_SKIPPED = "delivery_linkage: hot standby (pg_is_in_recovery), deploy skipped"
OS_USER = "pgserver" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root


@dataclass
class Pair:
    primary: connection.ConnectionSettings
    standby: connection.ConnectionSettings
    workdir: Path


def postgres_tool(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A PostgreSQL program of the embedded server's installation, run as the servers' OS user."""
    command = [str(embedded_server.bin_dir() / name), *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, user=OS_USER)
    assert completed.returncode == 0, f"{name} failed: {completed.stdout}{completed.stderr}"
    return completed


def wait_until_replayed(primary: connection.ConnectionSettings, standby: connection.ConnectionSettings) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with connection.connect(primary) as conn:
        position = conn.execute("select pg_catalog.pg_current_wal_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + 60
    with connection.connect(standby) as conn:
        while not conn.execute("select pg_catalog.pg_last_wal_replay_lsn() >= %s::pg_lsn", (position,)).fetchone()[0]:
            assert time.monotonic() < deadline, f"the standby has not replayed {position} within 60 s"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def pair():
    import pgserver

    workdir = Path(tempfile.mkdtemp(prefix="linkage-standby-"))
    workdir.chmod(0o755)  # the servers' OS user reaches its directories through it
    primary_data, standby_data, standby_sockets = workdir / "primary", workdir / "standby", workdir / "sockets"
    try:
        primary_data.mkdir()
        server = pgserver.get_server(primary_data, cleanup_mode=None)
        info = server.get_postmaster_info()
        primary = connection.ConnectionSettings(
            str(info.socket_dir), int(info.port or 5432), "postgres", None, DATABASE, embedded=True
        )
        app_fixture.create_app_database(primary.with_database("postgres"), DATABASE)
        dbt(primary, "run").check()  # the deploy (on-run-start) and the models, on the primary

        for folder in (standby_data, standby_sockets):
            folder.mkdir(mode=0o700)
            if OS_USER:
                shutil.chown(folder, OS_USER, OS_USER)
        postgres_tool(
            "pg_basebackup", "--pgdata", str(standby_data), "--write-recovery-conf", "--wal-method=stream",
            "--checkpoint=fast", "--host", primary.host, "--port", str(primary.port), "--username", "postgres",
        )  # fmt: skip
        postgres_tool(
            "pg_ctl", "--pgdata", str(standby_data), "--wait", "--log", str(standby_data / "standby.log"),
            "-o", f"-h '' -k {standby_sockets} -p {STANDBY_PORT}", "start",
        )  # fmt: skip
        standby = connection.ConnectionSettings(
            str(standby_sockets), STANDBY_PORT, "postgres", None, DATABASE, embedded=False
        )
        yield Pair(primary, standby, workdir)
    finally:
        for data in (standby_data, primary_data):
            if (data / "postmaster.pid").exists():
                stop = [str(embedded_server.bin_dir() / "pg_ctl"), "--pgdata", str(data), "-m", "immediate", "stop"]
                subprocess.run(stop, capture_output=True, timeout=120, user=OS_USER)
        shutil.rmtree(workdir, ignore_errors=True)


def dbt(settings: connection.ConnectionSettings, *args: str) -> dbt_runner.DbtResult:
    target = "standby" if settings.port == STANDBY_PORT else "primary"
    return dbt_runner.run_dbt(list(args), settings, target_path=f"target/pytest_{target}", timeout=600)


def linkage(settings: connection.ConnectionSettings, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(settings.libpq_env())
    return subprocess.run([LINKAGE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def in_recovery(settings: connection.ConnectionSettings) -> bool:
    with connection.connect(settings) as conn:
        return conn.execute("select pg_catalog.pg_is_in_recovery()").fetchone()[0]


def summary_counts(output: str) -> dict[str, int]:
    found = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    assert found, output[-3000:]
    return dict(zip(("PASS", "WARN", "ERROR", "SKIP"), map(int, found.groups()), strict=True))


def page_figures(page: str, settings: connection.ConnectionSettings) -> str:
    """The report's text and figures: charts (their element ids are random), times and the server's address out."""
    page = re.sub(r"<svg.*?</svg>|data:image/[^\"')]+", "<chart>", page, flags=re.S)
    page = page.replace(f"{settings.host}:{settings.port}", "<server>")
    return re.sub(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(\+00(:00)?| UTC)?", "<time>", page)


def test_a_hot_standby_reads_like_its_primary_once_replayed(pair):
    primary, standby = pair.primary, pair.standby
    assert not in_recovery(primary) and in_recovery(standby)

    # the primary goes on writing after the base backup: one delivery in 200 linkable but NULL (warning)
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        runbook_world.build(conn, 200, 1)
    on_primary = dbt(primary, "test")
    wait_until_replayed(primary, standby)

    on_standby = dbt(standby, "test")
    assert on_standby.returncode == 0, on_standby.output[-6000:]
    assert on_standby.output.count(DEPLOY_SKIPPED) == 1
    assert summary_counts(on_standby.output) == summary_counts(on_primary.output)
    assert summary_counts(on_standby.output)["WARN"] > 0  # the warning is seen on both

    checks = {name: linkage(s, "check", "--json", cwd=pair.workdir) for name, s in (("p", primary), ("s", standby))}
    assert checks["s"].returncode == checks["p"].returncode != 0, checks["s"].stderr  # a warning, on both
    figures = {name: json.loads(result.stdout) for name, result in checks.items()}
    for found in figures.values():
        found.pop("check_timestamp")
    assert figures["s"] == figures["p"]
    assert (figures["s"]["total_deliveries"], figures["s"]["inconsistent_deliveries"]) == (200, 1)

    pages = {}
    for name, settings in (("p", primary), ("s", standby)):
        written = linkage(settings, "report", "--out", f"report-{name}.html", cwd=pair.workdir)
        assert written.returncode == 0, written.stderr
        pages[name] = page_figures((pair.workdir / f"report-{name}.html").read_text(), settings)
    assert pages["s"] == pages["p"] and 'data-health="warning"' in pages["s"]

    validations = {}
    for name, settings in (("p", primary), ("s", standby)):
        docs = str(pair.workdir / f"docs-{name}")
        result = linkage(settings, "validate", "--json", "--docs-dir", docs, cwd=pair.workdir)
        assert result.returncode in (0, 1, 2), result.stdout[-3000:] + result.stderr[-3000:]  # a verdict, no error
        validations[name] = [result.returncode] + [
            (suite["name"], suite["success"], suite["evaluated"]) for suite in json.loads(result.stdout)["suites"]
        ]
    assert validations["s"] == validations["p"] and len(validations["s"]) >= 6


@pytest.mark.parametrize("command", ["run", "build"])
def test_dbt_run_and_build_on_a_hot_standby_stop_at_once_saying_to_use_the_primary(pair, command):
    result = dbt(pair.standby, command)
    assert result.returncode != 0
    output = " ".join(result.output.split())
    assert f"this database is a hot standby (pg_is_in_recovery: read-only), `dbt {command}`" in output
    assert "run it on the primary" in output
    assert DEPLOY_SKIPPED in result.output  # the deploy hook ran first and skipped itself
    started = [line for line in result.output.splitlines() if " START " in line and " START hook" not in line]
    assert started == []  # no model, seed or test was started
    assert "read-only transaction" not in result.output
