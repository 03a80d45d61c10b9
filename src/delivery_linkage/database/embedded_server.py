"""The embedded PostgreSQL server: a pgserver data directory, started on demand.

Its data directory: LINKAGE_PGDATA, else .pgdata/ in the checkout, else in the per-user data directory
when installed from a wheel (delivery_linkage.project.embedded_data_dir).

The server listens only on a unix socket inside its data directory. It keeps running after the
process that started it exits, until `linkage db stop`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from delivery_linkage import project


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str = "postgres"


def data_dir() -> Path:
    return project.embedded_data_dir()


def _quiet_pgserver():
    warnings.filterwarnings("ignore", module="platformdirs")
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def start() -> ServerAddress:
    """Start the server (initialising the data directory the first time); idempotent."""
    _quiet_pgserver()
    import pgserver

    server = pgserver.get_server(data_dir(), cleanup_mode=None)
    info = server.get_postmaster_info()
    return ServerAddress(host=str(info.socket_dir), port=int(info.port or 5432))


def status() -> ServerAddress | None:
    """The address of the running server, or None when it is not running."""
    _quiet_pgserver()
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir())
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return ServerAddress(host=str(info.socket_dir), port=int(info.port or 5432))


def _pg_ctl(*args: str) -> None:
    _quiet_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir()), *args]
    user = "pgserver" if os.geteuid() == 0 else None
    subprocess.run(command, check=True, capture_output=True, user=user, timeout=120)


def stop(mode: str = "fast") -> bool:
    """Stop the server; `mode="immediate"` simulates a crash. Returns False when it was not running."""
    if status() is None:
        return False
    _pg_ctl("-w", "-m", mode, "stop")
    return True


def bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)
