"""Where to connect: the libpq variables when any is set, else the embedded server.

Every command resolves its connection here, so `PGHOST=… linkage check` and `linkage check`
behave the same apart from the server they talk to.

Every connection is also made here, fit for a transaction-mode pooler (PgBouncer, the port 6543 of
hosted platforms), where consecutive transactions may run on different server connections: no
server-side prepared statements (psycopg 3 prepares a query after its fifth execution:
`prepare_threshold=None` turns that off, in `connect` and in the SQLAlchemy engine Great
Expectations builds, `sqlalchemy_engine_kwargs`), and no session state that outlives a
transaction anywhere in the code (`SET LOCAL` / `set_config(…, true)`, transaction-scoped advisory
locks, temporary tables `on commit drop`; tests/test_pooler.py checks both).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
DEFAULT_DATABASE = "delivery_linkage"


class ConnectionError_(RuntimeError):
    """The database could not be reached; the message names the cause and the fix."""


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    user: str
    password: str | None
    dbname: str
    embedded: bool

    def with_database(self, dbname: str) -> ConnectionSettings:
        return replace(self, dbname=dbname)

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        params = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if self.password:
            params["password"] = self.password
        return make_conninfo(**params)

    def libpq_env(self) -> dict[str, str]:
        """The variables dbt's profile (profiles.example.yml) and psql read."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.dbname,
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def sqlalchemy_url(self) -> str:
        from urllib.parse import quote

        auth = quote(self.user) + (":" + quote(self.password) if self.password else "")
        return f"postgresql+psycopg://{auth}@/{quote(self.dbname)}?host={quote(self.host)}&port={self.port}"

    def describe(self) -> str:
        where = "embedded server" if self.embedded else "server from the libpq variables"
        return f"{self.dbname} on {self.host}:{self.port} as {self.user} ({where})"


def uses_libpq_variables(environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in LIBPQ_VARIABLES)


def resolve(dbname: str | None = None, start_embedded: bool = True) -> ConnectionSettings:
    """Connection settings: the libpq variables if any is set, otherwise the embedded server."""
    if uses_libpq_variables():
        port = os.environ.get("PGPORT") or "5432"
        if not port.isdigit():
            raise ConnectionError_(f"PGPORT is {port!r}, not a port number\n  fix: export PGPORT=5432 (or your port)")
        return ConnectionSettings(
            host=os.environ.get("PGHOST") or "localhost",
            port=int(port),
            user=os.environ.get("PGUSER") or os.environ.get("USER") or "postgres",
            password=os.environ.get("PGPASSWORD") or None,
            dbname=dbname or os.environ.get("PGDATABASE") or DEFAULT_DATABASE,
            embedded=False,
        )
    from delivery_linkage.database import embedded_server

    address = embedded_server.start() if start_embedded else embedded_server.status()
    if address is None:
        raise ConnectionError_("the embedded server is not running; start it with `linkage db start`")
    return ConnectionSettings(
        host=address.host,
        port=address.port,
        user=address.user,
        password=None,
        dbname=dbname or DEFAULT_DATABASE,
        embedded=True,
    )


# psycopg keyword arguments of every connection: never a server-side prepared statement
PSYCOPG_OPTIONS = {"prepare_threshold": None}


def sqlalchemy_engine_kwargs() -> dict:
    """`create_engine(url, **…)` arguments for SQLAlchemy engines over psycopg (Great Expectations')."""
    return {"connect_args": dict(PSYCOPG_OPTIONS)}


def connect(settings: ConnectionSettings, autocommit: bool = True, **kwargs):
    """A psycopg connection, or ConnectionError_ naming the cause and the fix."""
    import psycopg

    try:
        return psycopg.connect(settings.conninfo(), autocommit=autocommit, **{**PSYCOPG_OPTIONS, **kwargs})
    except psycopg.OperationalError as error:
        hint = (
            "check PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE"
            if not settings.embedded
            else "run `linkage db start`, or `linkage demo` to build the demo database"
        )
        raise ConnectionError_(
            f"cannot connect to {settings.describe()}: {error}".strip() + f"\n  fix: {hint}"
        ) from None
