"""The sweeper the deploy schedules in pg_cron runs for real (`make test-pgcron`).

Hosted platforms have pg_cron, so there the deploy schedules the sweeper itself
(macros/deploy/linkage_sweeper_schedule.sql: job delivery_linkage_sweeper, every second from pg_cron 1.5,
every minute before). This proves that path on a real server: Debian's PostgreSQL 15 with Debian's
pg_cron (`postgresql-15-cron`, 1.4), both installed with apt-get when missing (root only: otherwise the
test is skipped, naming the command), started by tests/matrix/run_matrix.py's Server in .matrix/pg15-cron
with `shared_preload_libraries = pg_cron` and `cron.database_name` naming the app's database, owned by
an unprivileged OS user. As on a hosted platform, the app's tables belong to a deploy role that is not a
superuser and may use schema cron; the superuser only creates the extension.

The deploy role runs `dbt run-operation deploy`; the job is in cron.job, as that role, in the app's
database. A delivery is sent to a guest not linked yet (NULL), the guest is linked (queued for the
sweeper), and nobody calls the sweeper: pg_cron's run links the delivery and empties the queue, and
cron.job_run_details shows the run succeeded. Redeploys, unchanged and changed, leave one job. Slow (a
minute's schedule on pg_cron 1.4): opt-in, marker `pgcron`.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.testing import world as w
from matrix import run_matrix

pytestmark = pytest.mark.pgcron

MAJOR = 15
PG_CRON_PACKAGE = f"postgresql-{MAJOR}-cron"
DATABASE = "linkage_cron_app"
DEPLOY_ROLE = "linkage_deployer"
JOB = "delivery_linkage_sweeper"
SWEEPER_COMMAND = "select delivery_linkage.sweep_guest_link_queue()"
TARGET = "target/pytest_pgcron"
# pg_cron before 1.5 runs the job at the start of each minute: one minute, and the run itself, at most
RUN_WAIT_SECONDS = 130
PHONE = "+15555550123"


@pytest.fixture(scope="module")
def cron_server():
    """Debian's PostgreSQL 15 with pg_cron preloaded, running jobs in DATABASE: the superuser's settings."""
    bin_dir = Path(f"/usr/lib/postgresql/{MAJOR}/bin")
    if not (bin_dir / "postgres").exists() or not (bin_dir.parent / "lib" / "pg_cron.so").exists():
        try:
            run_matrix.apt_install(PG_CRON_PACKAGE)  # and postgresql-15, its dependency, when missing
        except run_matrix.Unavailable as reason:
            pytest.skip(f"needs pg_cron on PostgreSQL {MAJOR}: {reason}")
        except subprocess.CalledProcessError as error:
            pytest.fail(f"apt-get could not install {PG_CRON_PACKAGE}: {error.stderr}")
    server = run_matrix.Server(
        MAJOR, bin_dir, name=f"pg{MAJOR}-cron",
        settings={"shared_preload_libraries": "pg_cron", "cron.database_name": DATABASE},
    )  # fmt: skip
    try:
        server.start()
        yield connection.ConnectionSettings("127.0.0.1", server.port, "postgres", None, "postgres", embedded=False)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def deployer(cron_server):
    """The app's database, its tables owned by DEPLOY_ROLE (not a superuser), pg_cron created in it and
    schema cron usable by that role, as on a hosted platform: DEPLOY_ROLE's settings for it."""
    with connection.connect(cron_server) as conn:
        # the API roles first: only a superuser creates a BYPASSRLS role on PostgreSQL 15
        conn.execute("create role anon nologin; create role authenticated nologin")
        conn.execute("create role service_role nologin bypassrls")
        conn.execute(f"create role {DEPLOY_ROLE} login nosuperuser")
        conn.execute(f"create database {DATABASE} owner {DEPLOY_ROLE}")
    settings = connection.ConnectionSettings(
        cron_server.host, cron_server.port, DEPLOY_ROLE, None, DATABASE, embedded=False
    )
    app_fixture.execute_script(settings, app_fixture.fixture_sql())
    with connection.connect(cron_server.with_database(DATABASE)) as conn:
        conn.execute("create extension pg_cron")
        conn.execute(f"grant usage on schema cron to {DEPLOY_ROLE}")
    return settings


def deploy(settings, variables=None) -> dbt_runner.DbtResult:
    return dbt_runner.run_dbt(["run-operation", "deploy"], settings, variables=variables, target_path=TARGET).check()


def sweeper_jobs(superuser) -> list[dict]:
    with connection.connect(superuser.with_database(DATABASE), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select jobid, schedule, command, database, username, active from cron.job where jobname = %s",
            (JOB,),
        ).fetchall()


def sweeper_runs(superuser, jobid) -> list[dict]:
    with connection.connect(superuser.with_database(DATABASE), row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "select status, return_message, start_time, end_time from cron.job_run_details"
            " where jobid = %s order by runid",
            (jobid,),
        ).fetchall()


def test_pg_cron_runs_the_sweeper_the_deploy_scheduled(cron_server, deployer):
    deploy(deployer)

    with connection.connect(cron_server.with_database(DATABASE)) as conn:
        version = conn.execute("select extversion from pg_extension where extname = 'pg_cron'").fetchone()[0]
    every_second = tuple(map(int, re.match(r"(\d+)\.(\d+)", version).groups())) >= (1, 5)  # 1.4.2: '1.4-1'
    [job] = sweeper_jobs(cron_server)
    assert job["schedule"] == ("1 seconds" if every_second else "* * * * *")
    assert job["command"] == SWEEPER_COMMAND
    assert (job["database"], job["username"], job["active"]) == (DATABASE, DEPLOY_ROLE, True)

    # redeploys: unchanged (nothing to do), then changed (the schedule replaced by name): still one job
    deploy(deployer)
    deploy(deployer, variables={"linkage_lock_timeout": "6s"})
    assert sweeper_jobs(cron_server) == [job]

    with connection.connect(deployer) as conn:
        event = w.event(conn)
        guest = w.guest(conn, event, None, PHONE)
        person = w.user(conn, PHONE)
        delivery = w.deliver(conn, w.message(conn, event), guest, PHONE)
        assert w.delivery_user(conn, delivery) is None  # the guest is not linked yet
        conn.execute("update event_guests set user_id = %s where id = %s", (person, guest))
        queued = "select count(*) from delivery_linkage.guest_link_queue"
        # the link only queues its guest: the delivery waits for the sweeper, which nobody here calls
        assert (w.delivery_user(conn, delivery), conn.execute(queued).fetchone()[0]) == (None, 1)

        linked_at = time.monotonic()
        deadline = linked_at + RUN_WAIT_SECONDS
        while (w.delivery_user(conn, delivery), conn.execute(queued).fetchone()[0]) != (person, 0):
            if time.monotonic() > deadline:
                runs = sweeper_runs(cron_server, job["jobid"])
                pytest.fail(f"pg_cron did not sweep within {RUN_WAIT_SECONDS} s; the job's runs: {runs}")
            time.sleep(1)
        print(f"pg_cron {version} swept the guest's link {time.monotonic() - linked_at:.0f} s after it")

    # pg_cron records the run's end after the sweeper's transaction committed
    deadline = time.monotonic() + 30
    runs = sweeper_runs(cron_server, job["jobid"])
    while not any(run["end_time"] for run in runs):
        assert time.monotonic() < deadline, f"no run of the job ended within 30 s: {runs}"
        time.sleep(0.5)
        runs = sweeper_runs(cron_server, job["jobid"])
    assert {run["status"] for run in runs if run["end_time"]} == {"succeeded"}, f"the job's runs: {runs}"
