"""Every `linkage` command, and dbt, through PgBouncer in transaction mode (issue 10, item 6).

Hosted platforms put a transaction-mode pooler in front of the database: each transaction may run on
another server connection. A server-side prepared statement (psycopg 3 prepares a query after five
executions) or session state (`SET`, session advisory locks, LISTEN, cursors WITH HOLD, temporary
tables kept past a transaction) made in one transaction is gone, or somebody else's, in the next.
The `pgbouncer` fixture (tests/pooler.py) hops between server connections on every transaction, so
each command here runs as it would on such a platform; the first test shows that the pooler does
break what relies on the session, so the others could fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from delivery_linkage.database import connection, dbt_runner
from delivery_linkage.operations import backfill
from delivery_linkage_devtools import synthetic, traffic
from delivery_linkage_devtools.testing import runbook_world
from delivery_linkage_devtools.testing import world as w

CHECKOUT_DIR = Path(__file__).resolve().parents[1]

LINKAGE = str(Path(sys.executable).with_name("linkage"))
REPEATED = "select count(*) from message_deliveries where user_id is null"


def linkage(settings, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(settings.libpq_env())
    return subprocess.run([LINKAGE, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def pooled(pgbouncer, app_db):
    """The per-test app database reached through the pooler, its pool holding several server connections."""
    assert len(pgbouncer.fill_pool(app_db.dbname)) == pgbouncer.pool_size
    return pgbouncer.settings(app_db.dbname)


@pytest.fixture
def pooled_modeled(pgbouncer, modeled_app_db):
    """The same, for a database whose metric models are built (what `linkage check` reads)."""
    assert len(pgbouncer.fill_pool(modeled_app_db.dbname)) == pgbouncer.pool_size
    return pgbouncer.settings(modeled_app_db.dbname)


# --- the pooler breaks what relies on the session --------------------------------------------------------


def test_the_pooler_breaks_psycopg_default_prepared_statements_and_connect_avoids_them(pooled):
    with psycopg.connect(pooled.conninfo(), autocommit=True) as default:  # psycopg's default threshold: 5
        with pytest.raises(psycopg.errors.InvalidSqlStatementName, match='prepared statement "_pg3_0"'):
            for _ in range(10):
                default.execute(REPEATED)
    with psycopg.connect(pooled.conninfo(), autocommit=True, prepare_threshold=None) as client:
        backends = {client.execute("select pg_backend_pid()").fetchone()[0] for _ in range(8)}
        assert len(backends) > 1  # consecutive transactions of one client ran on different server connections
    with connection.connect(pooled) as conn:
        assert conn.prepare_threshold is None
        counts = {conn.execute(REPEATED).fetchone()[0] for _ in range(20)}
        assert len(counts) == 1


def test_the_pooler_loses_a_session_set_between_transactions_but_keeps_set_local_within_one(pooled):
    with connection.connect(pooled) as conn:
        conn.execute("set work_mem = '1234kB'")
        seen = {conn.execute("show work_mem").fetchone()[0] for _ in range(8)}
        assert seen != {"1234kB"}  # other transactions ran where the SET never happened
        with conn.transaction():
            conn.execute("set local work_mem = '1234kB'")
            assert {conn.execute("show work_mem").fetchone()[0] for _ in range(8)} == {"1234kB"}


# --- the commands -----------------------------------------------------------------------------------------


def test_check_reports_the_same_figures_through_the_pooler(modeled_app_db, modeled_db, pooled_modeled):
    app_db, db, pooled = modeled_app_db, modeled_db, pooled_modeled
    runbook_world.build(db, 71, 3)
    direct = linkage(app_db, "check", "--json")
    through = linkage(pooled, "check", "--json")
    assert through.returncode == direct.returncode == 2, through.stderr
    figures = json.loads(through.stdout)
    expected = json.loads(direct.stdout)
    figures.pop("check_timestamp"), expected.pop("check_timestamp")
    assert figures == expected
    assert (figures["total_deliveries"], figures["inconsistent_deliveries"]) == (71, 3)
    text = linkage(pooled, "check")
    assert text.returncode == 2 and "critical" in text.stdout, text.stderr


def test_backfill_runs_every_batch_to_completion_through_the_pooler(modeled_db, pooled_modeled):
    db, pooled = modeled_db, pooled_modeled
    defective = runbook_world.build(db, 71, 3)
    unlinked = db.execute("select count(*) from message_deliveries where user_id is null").fetchone()[0]
    audit_before = len(w.audit_rows(db))

    dry = linkage(pooled, "backfill", "--dry-run", "--batch-size", "2")
    assert dry.returncode == 0, dry.stderr
    assert f"{-(-unlinked // 2)} batches, {unlinked} NULL-user deliveries scanned, 3 would link" in dry.stdout
    assert w.linkable_null_count(db) == 3 and len(w.audit_rows(db)) == audit_before

    real = linkage(pooled, "backfill", "--batch-size", "2")
    assert real.returncode == 0, real.stderr
    assert f"{-(-unlinked // 2)} batches" in real.stdout  # far more than five: psycopg would have prepared
    assert "Before: 3 inconsistent deliveries (4.23%)  After: 0 (0.00%)" in real.stdout
    assert w.linkable_null_count(db) == 0
    audit = w.audit_rows(db, table_name="message_deliveries_backfill")
    assert sorted(r["record_id"] for r in audit) == sorted(defective)


def test_rollback_since_undoes_the_links_through_the_pooler(db, pooled):
    runbook_world.build(db, 40, 4)
    since = db.execute("select now()").fetchone()[0]
    backfill.run(db, batch_size=3)
    assert w.linkable_null_count(db) == 0

    dry = linkage(pooled, "rollback", "--since", since.isoformat(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "links since then: 4 found, 4 would be unlinked, 0 left alone" in dry.stdout
    assert w.linkable_null_count(db) == 0

    real = linkage(pooled, "rollback", "--since", since.isoformat())
    assert real.returncode == 0, real.stderr
    assert "4 unlinked, 0 left alone" in real.stdout
    assert w.linkable_null_count(db) == 4
    assert len(w.audit_rows(db, table_name="message_deliveries_rollback")) == 4


def test_indexes_rebuilds_a_missing_index_concurrently_through_the_pooler(db, pooled):
    index = "public.message_deliveries_unlinked_id_idx"
    db.execute(f"drop index {index}")

    result = linkage(pooled, "indexes")

    assert result.returncode == 0, result.stderr
    assert "message_deliveries_unlinked_id_idx: built" in result.stdout
    assert "users_normalized_phone_idx: present" in result.stdout
    valid = db.execute("select indisvalid from pg_index where indexrelid = to_regclass(%s)", (index,)).fetchone()
    assert valid == (True,)


@pytest.mark.dbt
def test_dbt_run_and_test_then_validate_and_report_through_the_pooler(app_db, db, pooled, tmp_path):
    synthetic.generate(db, synthetic.WorldShape(deliveries=3000))
    backfill.run(db)
    traffic.play(db)

    run = dbt_runner.run_dbt(["run"], pooled, target_path="target/pytest_pooler")
    assert run.returncode == 0, run.output[-3000:]
    test = dbt_runner.run_dbt(["test"], pooled, target_path="target/pytest_pooler")
    assert test.returncode == 0, test.output[-3000:]

    validate = linkage(pooled, "validate", "--json", "--docs-dir", str(tmp_path / "docs"))
    assert validate.returncode == 0, (validate.stdout + validate.stderr)[-3000:]
    summary = json.loads(validate.stdout)
    assert summary["success"] and all(suite["success"] for suite in summary["suites"])
    assert (tmp_path / "docs" / "index.html").exists()

    out = tmp_path / "report.html"
    report = linkage(pooled, "report", "--out", str(out))
    assert report.returncode == 0, report.stderr[-3000:]
    html = out.read_text()
    assert '<body data-health="healthy"' in html and '<section id="integrity">' in html


# --- the concurrency harness (make concurrency) -------------------------------------------------------


def test_a_concurrency_worker_waits_no_longer_than_the_run_s_lock_timeout_through_the_pooler(db, pooled):
    """The app sessions' timeouts reach the server through the pooler: set per transaction, since
    PgBouncer refuses the `options` startup parameter and would hand a session SET to other clients."""
    import threading

    from delivery_linkage_devtools.concurrency import plan, runner

    event = w.event(db)
    message, guest = w.message(db, event), w.guest(db, event, None, "+15555550100")
    delivery = w.deliver(db, message, guest, "+15555550100")
    worker = runner.Worker(0, pooled, [], runner.RunSettings(lock_timeout="200ms", max_attempts=1), None)
    worker.conn = worker.connect()
    holder = connection.connect(pooled)
    holder.execute("begin")
    holder.execute("select 1 from public.message_deliveries where id = %s for update", (delivery,))
    release = threading.Timer(10, holder.execute, ("rollback",))  # without the timeout: a success, not a hang
    release.start()
    try:
        result = worker.perform(plan.Operation("status_update", "read committed", (message, guest, "sent", "SM1")))
        assert result.error == "55P03", result
        # and the next transaction on that connection, wherever the pooler runs it, has the server's own
        assert worker.conn.execute("show lock_timeout").fetchone()[0] != "200ms"
    finally:
        release.cancel()
        if not holder.closed:
            holder.execute("rollback")
        holder.close()
        worker.conn.close()


@pytest.mark.dbt
def test_the_concurrency_harness_runs_its_plan_through_the_pooler(pgbouncer):
    """`make concurrency` with the libpq variables naming a transaction-mode pooler: the world's template
    is copied although the pooler keeps a connection to it, the workers start, every operation runs and
    the invariants hold once the sweeper has drained the queue."""
    import uuid

    from delivery_linkage_devtools import concurrency

    options = concurrency.ConcurrencyOptions.quick(
        operations=600,
        connections=3,
        seed=17,
        variants=(concurrency.LINKAGE,),
        prefix=f"linkage_test_pooled_{uuid.uuid4().hex[:6]}",
    )
    result = concurrency.run(options, server=pgbouncer.settings("postgres"))
    run = result["runs"][concurrency.LINKAGE]
    assert run["operations"] == 600 and sum(run["operations_by_kind"].values()) == 600
    assert run["invariants"]["total"] == 0, run["invariants"]
    assert run["sweeper"]["left_after_drain"] == 0


def test_the_interleaving_checker_refuses_a_pooler_and_says_so(app_db, pooled):
    """Its sessions are backends, as the isolation tester's are: through a transaction-mode pooler each
    step could run on another one and the session's settings would be lost, so it stops at once."""
    from delivery_linkage_devtools.interleavings.sessions import Session

    Session("a", app_db.conninfo(), None).close()
    with pytest.raises(RuntimeError, match="needs direct connections.*point the libpq variables at the server"):
        Session("a", pooled.conninfo(), None)


# --- the code relies on no session state ----------------------------------------------------------------

SOURCES = [
    *sorted((CHECKOUT_DIR / "src" / "delivery_linkage").rglob("*.py")),
    *sorted((CHECKOUT_DIR / "src" / "delivery_linkage").rglob("*.sql")),
    *sorted((CHECKOUT_DIR / "macros").rglob("*.sql")),
    *sorted((CHECKOUT_DIR / "models").rglob("*.sql")),
    *sorted((CHECKOUT_DIR / "models").rglob("*.yml")),
    CHECKOUT_DIR / "dbt_project.yml",
]
# statements whose effect outlives the transaction that ran them, each with why it breaks behind the pooler
SESSION_STATE = {
    "session SET (use SET LOCAL or set_config(…, true))": re.compile(
        r"(?:^|;|\bbegin\b|\bthen\b|\belse\b|\bloop\b|execute\(\s*f?[\"']{1,3}|\b(?:pre|post)[-_]hook\b\W*)"
        r"\s*set\s+(?!local\b|transaction\b|constraints\b)(?:session\s+)?[a-z_][\w.]*\s*(?:=|\bto\b)",
        re.IGNORECASE,
    ),
    "set_config(…, false) (session scope)": re.compile(r"set_config\s*\([^;]*?,\s*false\s*\)", re.IGNORECASE),
    "session advisory lock (use pg_advisory_xact_lock)": re.compile(
        r"pg_(?:try_)?advisory_lock(?:_shared)?\s*\(", re.IGNORECASE
    ),
    "LISTEN": re.compile(r"(?:^|;|[\"'])\s*listen\s+\w", re.IGNORECASE),
    "cursor WITH HOLD": re.compile(r"\bwith\s+hold\b|withhold\s*=\s*True", re.IGNORECASE),
    "PREPARE": re.compile(r"(?:^|;|[\"'])\s*prepare\s+\w+\s*(?:\(|as\b)", re.IGNORECASE),
}
TEMP_TABLE = re.compile(r"create\s+(?:temp|temporary)\s+table\b[^;]*", re.IGNORECASE)


def _strip_comments(text: str) -> str:
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.DOTALL)
    return re.sub(r"(?m)--[^\n]*$", " ", text)


def session_state(text: str) -> list[str]:
    """What in this source text would leave session state behind a transaction."""
    text = _strip_comments(text)
    found = [f"{what}: {m.group(0).strip()[:80]!r}" for what, p in SESSION_STATE.items() for m in p.finditer(text)]
    found += [
        "temporary table kept past the transaction (add ON COMMIT DROP)"
        for match in TEMP_TABLE.finditer(text)
        if not re.search(r"on\s+commit\s+drop", match.group(0), re.IGNORECASE)
    ]
    return found


def test_no_statement_leaves_session_state_behind_a_transaction():
    found = [
        f"{path.relative_to(CHECKOUT_DIR)}: {item}" for path in SOURCES for item in session_state(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ('conn.execute("set lock_timeout = \'5s\'")', True),
        ("select 1;\nset statement_timeout to 0;", True),
        ("{{ config(pre_hook=\"set lock_timeout = '5s'\") }}", True),  # outlives the model's transaction
        ("pre-hook: \"set session lock_timeout = '5s'\"", True),
        ("perform pg_catalog.set_config('lock_timeout', '5s', false);", True),
        ("select pg_advisory_lock(42);", True),
        ('conn.execute("listen linkage_events")', True),
        ("declare c cursor with hold for select 1;", True),
        ("create temporary table t (id int);", True),
        ('conn.execute("set local lock_timeout = \'5s\'")', False),
        ("perform pg_catalog.set_config('lock_timeout', '5s', true);", False),
        ("select pg_advisory_xact_lock(42);", False),
        ("create temporary table t (id int) on commit drop;", False),
        ("security definer\n    set search_path = ''\n    as $$ select 1 $$;", False),
        ("update message_deliveries set user_id = null;", False),
        ("{%- set statements = linkage_deploy_statements() -%}", False),
    ],
)
def test_the_session_state_audit_tells_session_from_transaction_scope(source, flagged):
    assert bool(session_state(source)) == flagged


def test_every_database_connection_of_the_package_is_made_in_connection_py():
    package = CHECKOUT_DIR / "src" / "delivery_linkage"
    elsewhere = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "database" / "connection.py":
            continue
        text = path.read_text()
        elsewhere += [f"{path.name}: {m.group(0)}" for m in re.finditer(r"psycopg2?\.connect\(|create_engine\(", text)]
        # Great Expectations builds its own engine: it must get connection.sqlalchemy_engine_kwargs()
        elsewhere += [
            f"{path.name}: add_sql without sqlalchemy_engine_kwargs"
            for m in re.finditer(r"\.add_sql\(", text)
            if "sqlalchemy_engine_kwargs()" not in text[m.end() : m.end() + 300]
        ]
    assert elsewhere == []
