"""Faults: the server killed (immediate shutdown) mid historical backfill and mid bulk guest link, and
statement timeouts in the app. After a restart nothing is half-applied, the audit agrees with the
deliveries, and running the job again finishes it.

The kills happen on a private server started for this module (fault_server.PrivateServer), never on
the shared one.
"""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest
import reliability_support as rs

from delivery_linkage.database import dbt_runner
from delivery_linkage.operations import backfill
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.testing import invariants
from delivery_linkage_devtools.testing import world as w
from delivery_linkage_devtools.testing.databases import clone

pytestmark = pytest.mark.reliability

BATCH_SIZE = 50
FAULT_TEMPLATE = "linkage_faults_template"


@pytest.fixture(scope="module")
def fault_template(private_server):
    settings = private_server.settings(FAULT_TEMPLATE)
    app_fixture.create_app_database(private_server.settings(), FAULT_TEMPLATE)
    dbt_runner.run_dbt(["run-operation", "deploy"], settings, target_path="target/pytest_faults").check()
    return FAULT_TEMPLATE


@pytest.fixture
def fault_db(private_server, fault_template):
    with clone(private_server.settings(), fault_template) as settings:
        yield settings
        if not private_server.running():
            private_server.restart()  # the test killed it: up again, so the clone can be dropped


def connect(settings):
    return psycopg.connect(settings.conninfo(), autocommit=True)


def slow_down(db, table, seconds):
    """An app-side BEFORE UPDATE row trigger that takes its time, so a kill lands mid-statement."""
    db.execute(
        f"create or replace function app_slow_row() returns trigger language plpgsql as $$ "
        f"begin perform pg_sleep({seconds}); return new; end $$"
    )
    db.execute(f"create trigger zz_app_slow before update on {table} for each row execute function app_slow_row()")


def wait_until_active(db, pattern, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.execute(
            "select count(*) from pg_stat_activity "
            "where state = 'active' and query like %s and pid <> pg_backend_pid() and datname = current_database()",
            (pattern,),
        ).fetchone()[0]:
            return True
        time.sleep(0.02)
    return False


def crash_while(private_server, settings, pattern, delay):
    """Wait until a statement matching pattern runs, let it run `delay` seconds more, then kill the server."""
    with connect(settings) as observer:
        assert wait_until_active(observer, pattern), f"nothing matching {pattern} started"
    time.sleep(delay)
    with connect(settings) as observer:
        mid_statement = wait_until_active(observer, pattern, timeout=0.5)
    private_server.crash()
    rs.add("faults.immediate_shutdown")
    private_server.restart()
    return mid_statement


def linkable_null_population(db, guests, deliveries_per_guest):
    """Guests already linked whose deliveries were created while the linkage was off: the runbook's defect."""
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(false)")
    db.execute(
        """
        with e as (insert into events default values returning id),
        u as (insert into users (phone) select null from generate_series(1, %(n)s) returning id),
        g as (
            insert into event_guests (event_id, user_id, phone)
            select e.id, u.id, '+1555' || lpad((row_number() over ())::text, 7, '0') from e, u
            returning id, event_id, phone
        ),
        m as (insert into messages (event_id) select e.id from e, generate_series(1, %(k)s) returning id)
        insert into message_deliveries (message_id, guest_id, phone_number)
        select m.id, g.id, g.phone from m, g
        """,
        {"n": guests, "k": deliveries_per_guest},
    )
    db.execute("select delivery_linkage.set_linkage_triggers_enabled(true)")
    db.execute("analyze")


def run_backfill(settings, committed, failure):
    """The historical backfill batch by batch, counting what committed, until the server goes away."""
    try:
        with connect(settings) as conn:
            after = None
            while True:
                last_id, scanned, linked, _ = conn.execute(
                    "select * from delivery_linkage.backfill_deliveries_batch(%s, %s, false)", (after, BATCH_SIZE)
                ).fetchone()
                if not scanned:
                    return
                committed["batches"] += 1
                committed["linked"] += linked
                after = last_id
    except psycopg.OperationalError as error:
        failure["error"] = error


def run_in_transaction(settings, statement, params, failure):
    try:
        with connect(settings) as conn, conn.transaction():
            conn.execute(statement, params)
    except psycopg.OperationalError as error:
        failure["error"] = error


def historical_audit_count(db):
    return db.execute("select count(*) from user_link_audit where reason like 'historical\\_%%'").fetchone()[0]


def linked_count(db):
    return db.execute("select count(*) from message_deliveries where user_id is not null").fetchone()[0]


def test_immediate_shutdown_mid_historical_backfill_leaves_no_half_applied_batch_and_the_rerun_finishes(
    private_server, fault_db, scale
):
    rounds = 2 * scale
    rng = random.Random()
    with connect(fault_db) as db:
        linkable_null_population(db, guests=200 * scale, deliveries_per_guest=10)
        total = w.linkable_null_count(db)
        slow_down(db, "message_deliveries", 0.004)  # a batch of 50 takes ~0.2 s

    for _ in range(rounds):
        committed = {"batches": 0, "linked": 0}
        failure = {}
        with connect(fault_db) as db:
            before = linked_count(db)
        thread = threading.Thread(target=run_backfill, args=(fault_db, committed, failure), daemon=True)
        thread.start()
        mid_batch = crash_while(private_server, fault_db, "%backfill_deliveries_batch%", rng.uniform(0.2, 0.7))
        thread.join(30)
        assert not thread.is_alive()
        assert failure, "the backfill should have been cut off by the shutdown"
        assert mid_batch, "the kill should land while a batch is running"
        rs.add("faults.shutdown_mid_backfill")
        rs.add("writes.backfill_batches", committed["batches"])

        with connect(fault_db) as db:
            now_linked = linked_count(db)
            # whole batches or nothing: what committed is there, the batch in flight is all or nothing
            assert before + committed["linked"] <= now_linked <= before + committed["linked"] + BATCH_SIZE
            assert historical_audit_count(db) == now_linked
            assert invariants.audit_disagreements(db) == []
            sizes = db.execute(
                "select count(*) from user_link_audit where reason like 'historical\\_%%' group by created_at"
            ).fetchall()
            assert all(n <= BATCH_SIZE for (n,) in sizes)

    with connect(fault_db) as db:
        db.execute("drop trigger zz_app_slow on message_deliveries")
        result = backfill.run(db, batch_size=500)
        rs.add("writes.backfill_batches", result.batches)
        assert w.linkable_null_count(db) == 0
        assert linked_count(db) == total == historical_audit_count(db)
        assert invariants.audit_disagreements(db) == []
        rs.add("checks.linkable_null")


def test_immediate_shutdown_mid_bulk_guest_link_leaves_nothing_half_linked_and_the_relink_finishes(
    private_server, fault_db, scale
):
    guests_per_half, deliveries_per_guest = 150, 4
    rng = random.Random()
    with connect(fault_db) as db:
        event = w.event(db)
        messages = [w.message(db, event) for _ in range(deliveries_per_guest)]
        guests = [
            r[0]
            for r in db.execute(
                "insert into event_guests (event_id, phone) "
                "select %s, '+1555' || lpad(n::text, 7, '0') from generate_series(1, %s) as n returning id",
                (event, 2 * guests_per_half),
            ).fetchall()
        ]
        db.execute(
            "insert into message_deliveries (message_id, guest_id, phone_number) "
            "select m, g.id, g.phone from unnest(%s::uuid[]) as m, event_guests g where g.id = any(%s)",
            (messages, guests),
        )
        people = [
            r[0]
            for r in db.execute(
                "insert into users (phone) select null from generate_series(1, %s) returning id", (len(guests),)
            ).fetchall()
        ]
        first, second = guests[:guests_per_half], guests[guests_per_half:]
        bulk = "update event_guests g set user_id = t.u from unnest(%s::uuid[], %s::uuid[]) as t(g, u) where g.id = t.g"
        db.execute(bulk, (first, people[:guests_per_half]))  # committed before the crash
        assert w.sweep(db) == 0  # the sweeper backfills the first half's deliveries
        slow_down(db, "event_guests", 0.01)  # the second bulk link runs for ~1.5 s

    for _ in range(2 * scale):
        failure = {}
        thread = threading.Thread(
            target=run_in_transaction, args=(fault_db, bulk, (second, people[guests_per_half:]), failure), daemon=True
        )
        thread.start()
        mid_statement = crash_while(
            private_server, fault_db, "%update event_guests g set user_id%", rng.uniform(0.1, 1.2)
        )
        thread.join(30)
        assert failure and mid_statement
        rs.add("faults.shutdown_mid_bulk_link")

        with connect(fault_db) as db:
            guest_users = dict(
                db.execute("select id, user_id from event_guests where event_id = %s", (event,)).fetchall()
            )
            assert all(guest_users[g] is not None for g in first)
            assert all(guest_users[g] is None for g in second), "the killed bulk link must leave no guest linked"
            rows = db.execute(
                "select guest_id, count(*), count(user_id) from message_deliveries group by guest_id"
            ).fetchall()
            assert {g: (n, linked) for g, n, linked in rows} == {
                g: (deliveries_per_guest, deliveries_per_guest if g in first else 0) for g in guests
            }
            assert (
                db.execute("select count(*) from user_link_audit where reason = 'guest_linked'").fetchone()[0]
                == guests_per_half * deliveries_per_guest
            )
            assert invariants.audit_disagreements(db) == []
            assert w.linkable_null_count(db) == 0

    with connect(fault_db) as db:
        db.execute("drop trigger zz_app_slow on event_guests")
        db.execute(bulk, (second, people[guests_per_half:]))
        assert w.sweep(db) == 0
        rs.add("writes.guest_updates", len(guests))
        assert w.linkable_null_count(db) == 0
        assert linked_count(db) == len(guests) * deliveries_per_guest
        assert (
            db.execute("select count(*) from user_link_audit where reason = 'guest_linked'").fetchone()[0]
            == len(guests) * deliveries_per_guest
        )
        assert invariants.audit_disagreements(db) == []
        rs.add("checks.linkable_null")


TIMEOUTS = {
    "statement_timeout": ("statement_timeout", psycopg.errors.QueryCanceled),
    "lock_timeout": ("lock_timeout", psycopg.errors.LockNotAvailable),
}


@pytest.mark.parametrize("timeout", ["statement_timeout", "lock_timeout"])
def test_a_timeout_inside_the_linkages_own_work_fails_the_apps_write_and_leaves_nothing_behind(app_db, db, timeout):
    """The app's timeout fires while the linkage works for the app's write: in the INSERT's own audit
    write (a send to linked guests), held up by an operator's lock on the audit's storage. The app gets
    the timeout, as it would from any statement of its own, and nothing of the write is left: no
    delivery, no audit row, no note, no queue entry. (There is no work at COMMIT any more: nothing
    else of the linkage's can time out.) The app's retry, unhindered, links and audits every row."""
    setting, error = TIMEOUTS[timeout]
    event = w.event(db)
    message = w.message(db, event)
    people = [w.user(db) for _ in range(20)]
    guests = [w.guest(db, event, person, None) for person in people]
    send = (
        "insert into message_deliveries (message_id, guest_id, phone_number) "
        "select %s, g, null from unnest(%s::uuid[]) as g"
    )
    w.sweep(db)  # the guests' own queue entries (they were inserted linked)
    with rs.app_connection(app_db) as other, rs.app_connection(app_db) as app:
        other.execute("begin")
        other.execute("lock table delivery_linkage.link_attempts in share mode")
        app.execute("begin")
        app.execute(f"set local {setting} = '300ms'")
        with pytest.raises(error):
            app.execute(send, (message, guests))
            app.execute("commit")
        if app.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            app.execute("rollback")
        other.execute("rollback")
    rs.add(f"faults.{timeout}")
    for table in (
        "message_deliveries",
        "user_link_audit",
        "delivery_linkage.app_linked_deliveries",
        "delivery_linkage.guest_link_queue",
    ):
        assert db.execute(f"select count(*) from {table}").fetchone()[0] == 0, table
    # the app's retry
    db.execute(send, (message, guests))
    assert dict(db.execute("select guest_id, user_id from message_deliveries").fetchall()) == dict(
        zip(guests, people, strict=True)
    )
    assert invariants.audit_disagreements(db) == []
    assert len(w.audit_rows(db, table_name="message_deliveries")) == len(guests)


def test_a_constraint_an_operator_adds_to_the_audit_storage_is_named_before_it_refuses_a_send(db):
    """The audit is written in the app's statement with no EXCEPTION block (a subtransaction per
    statement would cost every send an XID and overflow long transactions): so the storage must never
    refuse a row. After a deploy nothing on it can; an operator's constraint or trigger on it is named
    by audit_storage_problems() (what `linkage check` and assert_audit_storage_accepts_every_attempt
    read) — and a send it refuses fails loudly, naming the linkage's table, never silently unaudited."""
    assert db.execute("select * from delivery_linkage.audit_storage_problems()").fetchall() == []
    db.execute(
        "alter table delivery_linkage.link_attempts add constraint refuse_no_match check (outcome <> 'no_match')"
    )
    db.execute(
        "create function public.audit_spy() returns trigger language plpgsql as $$ begin return new; end $$"
    )
    db.execute(
        "create trigger audit_spy before insert on delivery_linkage.guest_link_queue "
        "for each row execute function public.audit_spy()"
    )
    problems = [row[0] for row in db.execute("select * from delivery_linkage.audit_storage_problems()")]
    assert any("refuse_no_match" in problem and "link_attempts" in problem for problem in problems), problems
    assert any("audit_spy" in problem and "guest_link_queue" in problem for problem in problems), problems
    event = w.event(db)
    pending_guest = w.guest(db, event, None, "+15555550102")
    with pytest.raises(psycopg.errors.CheckViolation, match="link_attempts"):
        w.deliver(db, w.message(db, event), pending_guest, "+15555550102")
    assert db.execute("select count(*) from message_deliveries").fetchone() == (0,)
