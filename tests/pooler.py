"""PgBouncer in transaction mode in front of the server under test (test-only).

What hosted platforms put on port 6543: every transaction may run on another server connection, so
a server-side prepared statement or a session `SET` made in one transaction is not there in the
next. PgBouncer is configured to make that certain rather than likely:

- `pool_mode = transaction`;
- `server_round_robin = 1`: server connections are taken in turn, not the last one used, so even a
  single client hops between server connections from one transaction to the next (with the default
  LIFO reuse a lone client keeps one server connection and hides the problem);
- Debian's PgBouncer (1.18 on bookworm) knows nothing of prepared statements: a `Parse` of a named
  statement goes to whatever server connection the transaction got.

The pooler listens on 127.0.0.1 on a free port, with its ini, user list, log and pid file in a
temporary directory, and reaches the server where the libpq variables (or the embedded server)
say: a unix socket directory or a host. PgBouncer refuses to run as root, so when the tests run as
root it runs as the OS user that owns the server's socket directory (the embedded server's
`pgserver`, which alone may enter that directory), else as `linkage_pooler`, created if needed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from delivery_linkage.database.connection import ConnectionSettings

POOLER_USER = "linkage_pooler"
SEARCH_PATH = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def pgbouncer_binary() -> str | None:
    """Debian installs it in /usr/sbin, which is not on a normal user's PATH."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path=os.pathsep.join(SEARCH_PATH))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_os_user(name: str) -> str:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
    return name


def run_as(server: ConnectionSettings) -> str | None:
    """The unprivileged OS user PgBouncer runs as (None: the current user, who is not root)."""
    if os.geteuid() != 0:
        return None
    if server.host.startswith("/"):
        owner = pwd.getpwuid(os.stat(server.host).st_uid).pw_name
        if owner != "root":
            return owner
    return ensure_os_user(POOLER_USER)


class PgBouncer:
    """`start()` then `settings(dbname)` for clients; `stop()` ends it and removes its directory."""

    def __init__(self, server: ConnectionSettings, binary: str, pool_size: int = 4):
        self.server = server
        self.binary = binary
        self.pool_size = pool_size
        self.port = 0
        self.user = run_as(server)
        self.directory = Path(tempfile.mkdtemp(prefix="lnk_pgbouncer_"))
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "pgbouncer.log"

    def settings(self, dbname: str) -> ConnectionSettings:
        return ConnectionSettings(
            host="127.0.0.1",
            port=self.port,
            user=self.server.user,
            password=self.server.password,
            dbname=dbname,
            embedded=False,
        )

    def _write_config(self) -> Path:
        def quoted(text: str) -> str:
            return '"' + text.replace('"', '""') + '"'

        (self.directory / "userlist.txt").write_text(
            f"{quoted(self.server.user)} {quoted(self.server.password or '')}\n"
        )
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={self.server.host} port={self.server.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "pool_mode = transaction\n"
            "server_round_robin = 1\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 200\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'userlist.txt'}\n"
            f"admin_users = {self.server.user}\n"
            f"logfile = {self.log_path}\n"
            f"pidfile = {self.directory / 'pgbouncer.pid'}\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "server_login_retry = 1\n"
        )
        if self.user:
            shutil.chown(self.directory, user=self.user)
            for path in self.directory.iterdir():
                shutil.chown(path, user=self.user)
        return ini

    def start(self, timeout: float = 20) -> PgBouncer:
        for _attempt in range(5):  # the free port may be taken between probing and binding
            self.port = free_port()
            ini = self._write_config()
            with open(self.directory / "stdout.log", "ab") as output:
                self.process = subprocess.Popen(
                    [self.binary, str(ini)], stdout=output, stderr=output, user=self.user, cwd=self.directory
                )
            if self._wait_ready(timeout):
                return self
            self.stop(remove=False)
        raise RuntimeError(f"pgbouncer did not start:\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with psycopg.connect(self.settings("postgres").conninfo(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("select 1")
                    return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def fill_pool(self, dbname: str) -> set[int]:
        """Opens `pool_size` server connections to dbname (one transaction each, held together, then
        ended), so that round-robin has that many to hop between from the first statement on.
        Returns their backend pids."""
        clients = [
            psycopg.connect(self.settings(dbname).conninfo(), prepare_threshold=None) for _ in range(self.pool_size)
        ]
        try:
            return {client.execute("select pg_backend_pid()").fetchone()[0] for client in clients}
        finally:
            for client in clients:
                client.rollback()
                client.close()

    def stop(self, remove: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        text = ""
        for name in ("stdout.log", "pgbouncer.log"):
            try:
                text += (self.directory / name).read_text(errors="replace")[-chars:]
            except OSError:
                pass
        return text
