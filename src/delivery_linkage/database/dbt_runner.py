"""Runs dbt for real, in a subprocess, against the resolved connection.

dbt reads the connection from the libpq variables through profiles.example.yml (copied into a
profiles directory), exactly as a user's own profiles.yml would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from delivery_linkage import PROJECT_DIR
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


def profiles_dir(project_dir: Path = PROJECT_DIR) -> Path:
    """DBT_PROFILES_DIR when set, else a private copy of profiles.example.yml."""
    if os.environ.get("DBT_PROFILES_DIR"):
        directory = Path(os.environ["DBT_PROFILES_DIR"])
        if (directory / "profiles.yml").exists():
            return directory
    else:
        directory = project_dir / ".dbt"
    directory.mkdir(parents=True, exist_ok=True)
    # written whole under another name, then renamed: a dbt started meanwhile never reads half a file
    wanted = (project_dir / "profiles.example.yml").read_bytes()
    profiles = directory / "profiles.yml"
    if not profiles.exists() or profiles.read_bytes() != wanted:
        partial = directory / f".profiles.yml.{os.getpid()}"
        partial.write_bytes(wanted)
        partial.replace(profiles)
    return directory


def target_dir(target_path: str | None = None) -> str:
    """The --target-path a dbt run uses: target_path (default `target`), plus LINKAGE_TARGET_SUFFIX when
    set, so that processes running dbt side by side (the test workers) never share one."""
    suffix = os.environ.get("LINKAGE_TARGET_SUFFIX")
    path = target_path or "target"
    return f"{path}_{suffix}" if suffix else path


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    settings: ConnectionSettings,
    variables: dict | None = None,
    project_dir: Path = PROJECT_DIR,
    extra_env: dict[str, str] | None = None,
    target_path: str | None = None,
    timeout: float = 900,
) -> DbtResult:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
    }
    env.update(settings.libpq_env())
    env["DBT_PROFILES_DIR"] = str(profiles_dir(project_dir))
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    env.setdefault("DO_NOT_TRACK", "1")
    if extra_env:
        env.update(extra_env)
    command = [dbt_executable(), *args, "--project-dir", str(project_dir)]
    if target_path or os.environ.get("LINKAGE_TARGET_SUFFIX"):
        command += ["--target-path", target_dir(target_path)]
    if variables:
        command += ["--vars", json.dumps(variables)]
    completed = subprocess.run(
        command, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout
    )
    return DbtResult(
        args=args, returncode=completed.returncode, stdout=completed.stdout, stderr=completed.stderr
    )
