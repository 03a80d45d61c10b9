"""Runs dbt for real, in a subprocess, against the resolved connection.

dbt reads the connection from the libpq variables through profiles.example.yml (copied into a
profiles directory), exactly as a user's own profiles.yml would. The project is found by
delivery_linkage.project (the checkout, or the copy inside the installed package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from delivery_linkage import project
from delivery_linkage.database import connection
from delivery_linkage.database.connection import ConnectionSettings


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> DbtResult:
        if self.returncode != 0:
            raise RuntimeError(
                f"dbt {' '.join(self.args)} failed ({self.returncode}):\n{self.output[-6000:]}"
            )
        return self


def profiles_dir(project_dir: Path | None = None) -> Path:
    """DBT_PROFILES_DIR when set, else a private copy of the project's profiles.example.yml in
    `<output dir>/.dbt` (the checkout's .dbt/; the per-user data directory for an installed package)."""
    project_dir = project.project_dir(project_dir)
    if os.environ.get("DBT_PROFILES_DIR"):
        directory = Path(os.environ["DBT_PROFILES_DIR"])
        if (directory / "profiles.yml").exists():
            return directory
    else:
        directory = project.output_dir(project_dir) / ".dbt"
    directory.mkdir(parents=True, exist_ok=True)
    # written whole under another name, then renamed: a dbt started meanwhile never reads half a file
    wanted = (project_dir / "profiles.example.yml").read_bytes()
    profiles = directory / "profiles.yml"
    if not profiles.exists() or profiles.read_bytes() != wanted:
        partial = directory / f".profiles.yml.{os.getpid()}"
        partial.write_bytes(wanted)
        partial.replace(profiles)
    return directory


def target_dir(target_path: str | Path | None = None, project_dir: Path | None = None) -> Path:
    """The target folder a dbt run writes (absolute): target_path (default `target`, relative to the
    project's output directory), plus `_<LINKAGE_TARGET_SUFFIX>` when set, so that processes running dbt
    side by side (the test workers) never share one."""
    suffix = os.environ.get("LINKAGE_TARGET_SUFFIX")
    path = Path(target_path or "target")
    if suffix:
        path = path.with_name(f"{path.name}_{suffix}")
    return path if path.is_absolute() else project.output_dir(project.project_dir(project_dir)) / path


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_invocation(
    args: list[str],
    settings: ConnectionSettings,
    variables: dict | None = None,
    project_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    target_path: str | Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a dbt run on the project against settings' database.

    The connection goes through the libpq variables (profiles.example.yml reads them). When the project
    is the copy inside an installed package, target/ and logs/ go to the per-user data directory
    (DBT_TARGET_PATH / DBT_LOG_PATH when not set already, so a `--target-path` in args still wins).
    """
    project_dir = project.project_dir(project_dir)
    writes_to = project.output_dir(project_dir)
    env = {k: v for k, v in os.environ.items() if k not in connection.LIBPQ_VARIABLES}
    env.update(settings.libpq_env())
    env["DBT_PROFILES_DIR"] = str(profiles_dir(project_dir))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    env.setdefault("DO_NOT_TRACK", "1")
    if writes_to != project_dir:
        env.setdefault("DBT_TARGET_PATH", str(target_dir(project_dir=project_dir)))
        env.setdefault("DBT_LOG_PATH", str(writes_to / "logs"))
    if extra_env:
        env.update(extra_env)
    command = [dbt_executable(), *args]
    if any(not arg.startswith("-") for arg in args):  # a dbt command (`dbt --version` takes no --project-dir)
        command += ["--project-dir", str(project_dir)]
    if target_path or os.environ.get("LINKAGE_TARGET_SUFFIX"):
        command += ["--target-path", str(target_dir(target_path, project_dir))]
    if variables:
        command += ["--vars", json.dumps(variables)]
    return command, env


def run_dbt(args: list[str], settings: ConnectionSettings, timeout: float = 900, **invocation) -> DbtResult:
    """Runs dbt to completion, its output captured. invocation: dbt_invocation's keyword arguments
    (variables, project_dir, extra_env, target_path)."""
    command, env = dbt_invocation(args, settings, **invocation)
    completed = subprocess.run(
        command,
        cwd=project.project_dir(invocation.get("project_dir")),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return DbtResult(
        args=args, returncode=completed.returncode, stdout=completed.stdout, stderr=completed.stderr
    )
