"""Where the project's objects live, as the dbt vars say, for the Python side.

The app schema (`linkage_app_schema`, default public) holds the app's tables and the runbook's
functions and views; the private schema (`linkage_private_schema`, default delivery_linkage) the
linkage's own tables and machinery; the models go to the dbt schema (`DBT_SCHEMA`, default linkage).
Each can be overridden with an environment variable of the same name in capitals.
"""

from __future__ import annotations

import os
import re

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _schema(variable: str, default: str) -> str:
    value = os.environ.get(variable) or default
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{variable} must be a plain lower-case identifier, got {value!r}")
    return value


def app_schema() -> str:
    return _schema("LINKAGE_APP_SCHEMA", "public")


def private_schema() -> str:
    return _schema("LINKAGE_PRIVATE_SCHEMA", "delivery_linkage")


def marts_schema() -> str:
    return _schema("DBT_SCHEMA", "linkage")


def quote_identifier(identifier: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'
