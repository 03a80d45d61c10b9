"""The two databases a case runs on, and running one case on one of them.

`linkage`: the app fixture with the linkage deployed by dbt, as a user deploys it. `control`: the same
app fixture, no linkage; the operator's `feature_flags` table (flag_name, enabled: the shape the
linkage deploys) stands in for the linkage's, so the flag flip runs the same statement on both. On
both, the keys to users are ON DELETE SET NULL (as a live app's migrations leave them: a user can be
deleted), the bookkeeping table of the links the app wrote exists, and deadlock_timeout is low so a
deadlock shows in milliseconds.

Each worker gets its own copy of each (`CREATE DATABASE … TEMPLATE`), so no case waits on another's
locks, and runs its cases one after the other, each in a world of fresh ids.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from delivery_linkage.database import connection
from delivery_linkage_devtools import app_fixture
from delivery_linkage_devtools.concurrency import invariants
from delivery_linkage_devtools.concurrency import world as bench_world
from delivery_linkage_devtools.interleavings.sessions import (
    RenderedStep,
    ScheduleResult,
    ScheduleRunner,
    Session,
)
from delivery_linkage_devtools.interleavings.space import Case
from delivery_linkage_devtools.interleavings.world import CaseWorld

LINKAGE, CONTROL = "linkage", "control"
DEADLOCK_TIMEOUT = "10ms"
APP_ROLE = "service_role"
SWEEPER = "delivery_linkage.sweep_guest_link_queue()"
SWEEP_FOR = 5.0  # seconds the sweeper may take to drain the queue after a case

FINAL_STATE = """
    select
        (select coalesce(json_agg(json_build_object(
                'id', d.id, 'message', d.message_id, 'guest', d.guest_id, 'phone', d.phone_number,
                'status', d.sms_status, 'user', d.user_id) order by d.message_id, d.guest_id), '[]')
         from public.message_deliveries as d where d.message_id = any(%(messages)s)),
        (select coalesce(json_agg(json_build_object(
                'guest', g.id, 'user', g.user_id, 'phone', g.phone, 'name', g.guest_name,
                'removed', g.removed_at is not null) order by g.id), '[]')
         from public.event_guests as g where g.event_id = any(%(events)s)),
        (select coalesce(json_agg(u.id order by u.id), '[]') from public.users as u where u.id = any(%(users)s))
"""


def prepare(conn: psycopg.Connection, variant: str) -> None:
    """What both databases need besides the app fixture (and, on linkage, the deployed linkage)."""
    bench_world.recreate_user_foreign_keys(conn)
    invariants.ensure_bookkeeping(conn)
    if variant == CONTROL:
        conn.execute(app_fixture.runbook_feature_flags_sql())


def build_control_template(server: connection.ConnectionSettings, name: str) -> None:
    app_fixture.create_app_database(server, name)
    with connection.connect(server.with_database(name)) as conn:
        prepare(conn, CONTROL)


def build_linkage_template(server: connection.ConnectionSettings, name: str, target_path: str) -> None:
    """The app fixture, its keys made ON DELETE SET NULL, then the linkage deployed by dbt."""
    app_fixture.create_app_database(server, name)
    with connection.connect(server.with_database(name)) as conn:
        bench_world.recreate_user_foreign_keys(conn)
        invariants.ensure_bookkeeping(conn)
    bench_world.deploy_linkage(server.with_database(name), target_path)


def create_copy(server: connection.ConnectionSettings, name: str, template: str, prepared: bool, variant: str) -> None:
    """A worker's database: a copy of the template, with a low deadlock_timeout (`prepared`: the
    template already has what `prepare` adds)."""
    app_fixture.drop_database(server, name)
    app_fixture.create_database(server, name, template=template)
    with connection.connect(server.with_database(name)) as conn:
        if not prepared:
            prepare(conn, variant)
        conn.execute(
            sql.SQL("alter database {} set deadlock_timeout = {}").format(
                sql.Identifier(name), sql.Literal(DEADLOCK_TIMEOUT)
            )
        )


@contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[phase] = time.perf_counter() - started


@contextmanager
def case_databases(
    server: connection.ConnectionSettings,
    workers: int,
    prefix: str,
    linkage_template: str | None = None,
    alter_linkage: Callable[[psycopg.Connection], None] | None = None,
    control_template: str | None = None,
    keep: bool = False,
    target_path: str = "target/interleavings",
    announce: Callable[[str], None] = lambda text: None,
) -> Iterator[list[dict[str, str]]]:
    """Each worker's pair of databases, {variant: name}, dropped afterwards (unless `keep`).
    `linkage_template`: a database with the linkage deployed to copy (default: one deployed here by
    dbt). `alter_linkage` is applied to each worker's linkage database (the tests sabotage it, to prove
    the checker can fail, or give it a sweeper). `control_template`: a control template to copy (one
    built by `build_control_template`; default: one built here)."""
    tag = uuid.uuid4().hex[:8]
    created: list[str] = []
    try:
        if control_template is None:
            control_template = f"{prefix}_{tag}_control"
            created.append(control_template)
            build_control_template(server, control_template)
        prepared = linkage_template is None
        if linkage_template is None:
            linkage_template = f"{prefix}_{tag}_linkage"
            created.append(linkage_template)
            announce("deploying the linkage into a template database (dbt)…")
            build_linkage_template(server, linkage_template, target_path)
        names = []
        for index in range(workers):
            pair = {variant: f"{prefix}_{tag}_{variant}_{index}" for variant in (LINKAGE, CONTROL)}
            created.extend(pair.values())
            create_copy(server, pair[LINKAGE], linkage_template, prepared, LINKAGE)
            create_copy(server, pair[CONTROL], control_template, True, CONTROL)
            if alter_linkage:
                with connection.connect(server.with_database(pair[LINKAGE])) as conn:
                    alter_linkage(conn)
            names.append(pair)
        yield names
    finally:
        if not keep:
            for name in created:
                app_fixture.drop_database(server, name)


@dataclass
class Run:
    """What one case did on one database."""

    variant: str
    schedule: ScheduleResult
    deliveries: dict = field(default_factory=dict)  # (message, guest) → {phone, status, user}
    guests: dict = field(default_factory=dict)  # guest → {user, phone, name, removed}
    users: list = field(default_factory=list)
    delivery_names: dict = field(default_factory=dict)  # delivery id → "message→guest"
    violations: dict = field(default_factory=dict)  # invariant → rows (linkage only)
    sweep: dict = field(default_factory=dict)  # calls, left (queued after the last), seconds
    seconds: dict = field(default_factory=dict)  # by phase: world, schedule, sweep, check


class CaseDatabase:
    """One worker's copy of one variant: an owner connection (worlds, observer, checks) and four
    sessions, a and b as the app's role and as the owner (the operator's operations)."""

    def __init__(self, settings: connection.ConnectionSettings, variant: str):
        self.variant = variant
        self.conn = connection.connect(settings, autocommit=True)
        conninfo = settings.conninfo()
        self.app = {name: Session(name, conninfo, APP_ROLE) for name in ("a", "b")}
        self.owner = {name: Session(name, conninfo, None) for name in ("a", "b")}
        self.has_sweeper = (
            variant == LINKAGE and self.conn.execute("select to_regprocedure(%s) is not null", (SWEEPER,)).fetchone()[0]
        )

    def close(self) -> None:
        for session in (*self.app.values(), *self.owner.values()):
            session.close()
        self.conn.close()

    def run(self, case: Case, world: CaseWorld) -> Run:
        """Builds the case's world, runs its schedule, then the sweeper (if any), then reads the app's
        rows and, on linkage, checks the invariants."""
        seconds: dict[str, float] = {}
        with timed(seconds, "world"):
            since = self.conn.execute("select clock_timestamp()").fetchone()[0]
            if self.variant == LINKAGE:
                self.conn.execute(
                    "update public.feature_flags set enabled = %s "
                    "where flag_name = 'LINK_USER_BY_PHONE_FALLBACK_TO_USERS' and enabled is distinct from %s",
                    (case.fallback, case.fallback),
                )
            self.conn.execute(world.build_sql())
        with timed(seconds, "schedule"):
            sessions = {name: (self.owner if case.operation(name).as_owner else self.app)[name] for name in "ab"}
            steps = {name: render(case, name, world) for name in "ab"}
            try:
                result = ScheduleRunner(sessions, self.conn, steps).run(case.schedule)
            finally:
                for session in sessions.values():
                    session.reset()
        run = Run(self.variant, result, seconds=seconds)
        flag_flip = "flag_flip" in (case.first.name, case.second.name)
        with timed(seconds, "sweep"):
            if self.has_sweeper:
                run.sweep = self.sweep()
        with timed(seconds, "check"):
            self.read_state(run, world)
            if self.variant == LINKAGE:
                run.violations = invariants.check_case(self.conn, world.messages, since, skipped_explains=flag_flip)
        if flag_flip:  # the flag is the database's: on again for the next case, whatever this one did
            self.conn.execute("update public.feature_flags set enabled = true where flag_name = 'LINK_USER_BY_PHONE'")
        return run

    def sweep(self) -> dict:
        """The sweeper, each call its own transaction, until nothing is left queued (SWEEP_FOR at most)."""
        started = time.monotonic()
        calls, left = 0, None
        while time.monotonic() - started < SWEEP_FOR:
            left = self.conn.execute(f"select {SWEEPER}").fetchone()[0]
            calls += 1
            if not left:
                break
            time.sleep(0.01)
        return {"calls": calls, "left": left, "seconds": round(time.monotonic() - started, 3)}

    def read_state(self, run: Run, world: CaseWorld) -> None:
        deliveries, guests, users = self.conn.execute(
            FINAL_STATE,
            {
                "messages": world.messages,
                "events": world.events,
                "users": [world.ids[u] for u in ("alice", "bob", "carol", "dave", "erin")],
            },
        ).fetchone()
        run.deliveries = {
            (row["message"], row["guest"]): {k: row[k] for k in ("phone", "status", "user")} for row in deliveries
        }
        names = world.names()
        run.delivery_names = {
            row["id"]: f"{names.get(row['message'], row['message'])}→{names.get(row['guest'], row['guest'])}"
            for row in deliveries
        }
        run.guests = {row["guest"]: {k: row[k] for k in ("user", "phone", "name", "removed")} for row in guests}
        run.users = list(users)


def render(case: Case, session: str, world: CaseWorld) -> list[RenderedStep]:
    operation = case.operation(session)
    values = world.values(session, case.isolation)
    rendered = []
    for step in operation.steps:
        kind = step.name if step.name in ("begin", "commit", "rollback") else "statement"
        rendered.append(
            RenderedStep(f"{session}_{step.name}", session, step.sql.format(**values), kind, step.own_transaction)
        )
    return rendered
