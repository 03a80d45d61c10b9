"""One fresh database per test, cloned from a template (`CREATE DATABASE … TEMPLATE`, the pattern
pytest-postgresql popularised): each test is isolated, and a clone costs a file copy, not a build.

`clone` is the one way the suites make and drop such a database (`app_database`: one made from scratch,
holding the app fixture alone); `clone_fixture` makes the pytest fixture that gives each test its clone
of a session's template, `connection_fixture` one that gives a connection to it. Databases are named
`linkage_test_*` and dropped afterwards (WITH (FORCE): a session a test left open does not block it).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from delivery_linkage.database.connection import ConnectionSettings
from delivery_linkage_devtools import app_fixture


def new_database_name() -> str:
    return f"linkage_test_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def temporary_database(
    server: ConnectionSettings, create: Callable[[str], None], name: str | None = None
) -> Iterator[ConnectionSettings]:
    """The database `create(name)` makes, dropped on leaving: its ConnectionSettings. `name`: a fixed
    name (a database left under it is replaced), else a new `linkage_test_*` one."""
    if name:
        app_fixture.drop_database(server, name)
    name = name or new_database_name()
    create(name)
    try:
        yield server.with_database(name)
    finally:
        app_fixture.drop_database(server, name)


def clone(
    server: ConnectionSettings, template: str, name: str | None = None, owner: str | None = None
) -> contextlib.AbstractContextManager[ConnectionSettings]:
    """A fresh copy of `template` (owned by `owner`, else the server's user), dropped on leaving."""
    return temporary_database(
        server, lambda new: app_fixture.create_database(server, new, template=template, owner=owner), name
    )


def app_database(
    server: ConnectionSettings, name: str | None = None
) -> contextlib.AbstractContextManager[ConnectionSettings]:
    """A fresh database holding the project's app fixture and nothing of the linkage, dropped on leaving."""
    return temporary_database(server, lambda new: app_fixture.create_app_database(server, new), name)


def clone_fixture(
    template_fixture: str,
    doc: str,
    *,
    template: Callable[[Any], str] = str,
    settings: Callable[[ConnectionSettings], ConnectionSettings] = lambda settings: settings,
    owner: str | None = None,
    name: str | None = None,
):
    """A pytest fixture giving each test a clone of the template the session fixture `template_fixture`
    holds (`template` turns its value into the database's name) on the server the fixture `server` names,
    as `settings` turns its ConnectionSettings (another role, say), under `name` if given, owned by
    `owner` if given."""
    import pytest

    def fixture(request, server):
        with clone(server, template(request.getfixturevalue(template_fixture)), name=name, owner=owner) as cloned:
            yield settings(cloned)

    fixture.__doc__ = doc
    return pytest.fixture(fixture)


def connection_fixture(settings_fixture: str, doc: str):
    """A pytest fixture giving each test an autocommit psycopg connection to the database the fixture
    `settings_fixture` gives (its ConnectionSettings), closed after the test."""
    import pytest

    def fixture(request):
        with psycopg.connect(request.getfixturevalue(settings_fixture).conninfo(), autocommit=True) as conn:
            yield conn

    fixture.__doc__ = doc
    return pytest.fixture(fixture)


def derived_fixture(source_fixture: str, derive: Callable[[Any], Any], doc: str):
    """A pytest fixture whose value is `derive` of the fixture `source_fixture`'s (the same database as
    another role, say)."""
    import pytest

    def fixture(request):
        return derive(request.getfixturevalue(source_fixture))

    fixture.__doc__ = doc
    return pytest.fixture(fixture)
