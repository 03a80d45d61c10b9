"""Fixtures of the adoption suite: the real app's database (grantdelgado/unveil) with its original
linkage, rebuilt once per session as a template, and one `CREATE DATABASE … TEMPLATE` clone per test.

Databases are named `linkage_test_*` and dropped afterwards. Building needs a superuser (the platform's
roles, schema auth, the app's event triggers); the app's objects belong to `platform_owner`.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
import unveil_fixture as uf

UNVEIL_TEMPLATE = f"linkage_test_unveil_template_{os.getpid()}"


@pytest.fixture(scope="session")
def unveil_template(server):
    """Name of the template database: the app as its migrations leave it, the world lived in it."""
    if not uf.is_superuser(server):
        pytest.skip(f"building the app's database needs a superuser; {server.user} is not one")
    uf.build_database(server, UNVEIL_TEMPLATE)
    yield UNVEIL_TEMPLATE
    uf.drop_database(server, UNVEIL_TEMPLATE)


@pytest.fixture
def unveil_db(server, unveil_template):
    """A fresh copy of the app's database: ConnectionSettings as the server's superuser."""
    name = f"linkage_test_{uuid.uuid4().hex[:12]}"
    uf.clone_database(server, name, unveil_template)
    yield server.with_database(name)
    uf.drop_database(server, name)


@pytest.fixture
def unveil_owner(unveil_db):
    """The same copy as the platform's owner role (platform_owner: not a superuser, owns the app)."""
    return uf.as_owner(unveil_db)


@pytest.fixture
def owner_conn(unveil_owner):
    """An autocommit connection to the copy, as platform_owner."""
    with psycopg.connect(unveil_owner.conninfo(), autocommit=True) as conn:
        yield conn
