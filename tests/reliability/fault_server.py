"""A private, throw-away PostgreSQL server for fault injection (immediate shutdown, restart).

The reliability suite kills a server in the middle of a backfill or a bulk guest link. It must never
do that to the shared server other tests run against, so it starts its own: a pgserver data
directory under /tmp, on its own unix socket, stopped and deleted at the end. As root, the server
runs as the `pgserver` system user (pgserver creates it and hands it the data directory), and so do
the `pg_ctl` calls made here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from delivery_linkage.database.connection import ConnectionSettings


class PrivateServer:
    """One private server: `start()`, `crash()` (pg_ctl -m immediate), `restart()`, `destroy()`."""

    def __init__(self, parent: str = "/tmp"):
        # short path: the unix socket lives in the data directory and its path length is limited
        self.data_dir = Path(tempfile.mkdtemp(prefix="lnkf_", dir=parent)).resolve()
        self.socket_dir: Path | None = None
        self.port = 5432
        self.crashes = 0
        self._handle = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> ConnectionSettings:
        """initdb and start (through pgserver, which handles running as root)."""
        import logging
        import warnings

        warnings.filterwarnings("ignore", module="platformdirs")
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        import pgserver

        self._handle = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        # this object manages stop/restart itself; pgserver's exit hook must not act on a restarted server
        atexit.unregister(self._handle._cleanup)
        type(self._handle)._instances.pop(self.data_dir, None)
        info = self._handle.get_postmaster_info()
        self.socket_dir = Path(info.socket_dir)
        self.port = int(info.port or 5432)
        return self.settings()

    def settings(self, dbname: str = "postgres") -> ConnectionSettings:
        assert self.socket_dir is not None, "start() first"
        return ConnectionSettings(
            host=str(self.socket_dir), port=self.port, user="postgres", password=None, dbname=dbname, embedded=True
        )

    def crash(self) -> None:
        """Immediate shutdown: no checkpoint, backends killed; recovery replays the WAL on restart."""
        self._pg_ctl("-w", "-m", "immediate", "stop")
        self.crashes += 1

    def restart(self, timeout: float = 60) -> None:
        assert self.socket_dir is not None
        self._pg_ctl(
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.data_dir / "log"),
            "start",
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.settings().conninfo(), connect_timeout=2) as conn:
                    conn.execute("select 1")
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def running(self) -> bool:
        completed = subprocess.run(
            [str(self._bin("pg_ctl")), "-D", str(self.data_dir), "status"],
            capture_output=True,
            user=self._user(),
            timeout=30,
        )
        return completed.returncode == 0

    def destroy(self) -> None:
        """Stop (immediately: the data is thrown away) and delete the data directory."""
        try:
            if self.running():
                self._pg_ctl("-w", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.data_dir / "log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _user() -> str | None:
        return "pgserver" if os.geteuid() == 0 else None

    @staticmethod
    def _bin(name: str) -> Path:
        from pgserver._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH) / name

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self._bin("pg_ctl")), "-D", str(self.data_dir), *args]
        # output to a file, not a pipe: a started postmaster inherits the pipe and would hold it open
        with tempfile.TemporaryFile() as output:
            completed = subprocess.run(command, stdout=output, stderr=output, user=self._user(), timeout=120)
            if completed.returncode != 0:
                output.seek(0)
                raise subprocess.CalledProcessError(
                    completed.returncode, command, output.read().decode(errors="replace") + self.log_tail()
                )
