"""Runs dbt-labs' dbt-project-evaluator over delivery_linkage (`make evaluate`).

The evaluator and dbt-utils are local copies (never dependencies of delivery_linkage, never
downloaded here): EVALUATOR_DIR and DBT_UTILS_DIR, default vendor/dbt-project-evaluator and
vendor/dbt-utils in the project. This dbt project (tests/evaluator_project) installs them and
delivery_linkage as local packages (symlinks in its dbt_packages/), builds the evaluator's models in
schema project_evaluator of a scratch database (linkage_evaluation on the same server as every
command), and prints the evaluator's findings. The findings kept on purpose are recorded, with their
reasons, in seeds/dbt_project_evaluator_exceptions.csv (the evaluator's exceptions mechanism).

Exit status: 0 clean (or documented exceptions only), 1 findings, 2 copies missing, 3 dbt failed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from delivery_linkage import project
from delivery_linkage.database import connection, dbt_runner
from delivery_linkage_devtools import app_fixture

EVALUATION_PROJECT = Path(__file__).resolve().parent
CHECKOUT_DIR = EVALUATION_PROJECT.parents[1]
DATABASE = "linkage_evaluation"
SCHEMA = "project_evaluator"
TARGET = "target"
EVALUATOR_TAG, DBT_UTILS_TAG = "v1.3.2", "1.4.1"
GITHUB = "https://github.com/dbt-labs"


@dataclass
class Copies:
    evaluator: Path
    dbt_utils: Path

    @classmethod
    def from_environment(cls) -> Copies:
        return cls(
            Path(os.environ.get("EVALUATOR_DIR") or CHECKOUT_DIR / "vendor" / "dbt-project-evaluator"),
            Path(os.environ.get("DBT_UTILS_DIR") or CHECKOUT_DIR / "vendor" / "dbt-utils"),
        )

    def missing(self) -> str | None:
        """Where the copies go, when one is absent."""
        absent = [path for path in (self.evaluator, self.dbt_utils) if not (path / "dbt_project.yml").exists()]
        if not absent:
            return None
        return (
            f"dbt-project-evaluator needs local copies, missing: {', '.join(str(p) for p in absent)}\n"
            f"  put dbt-labs/dbt-project-evaluator ({EVALUATOR_TAG}) in {self.evaluator}\n"
            f"  and dbt-labs/dbt-utils ({DBT_UTILS_TAG}) in {self.dbt_utils}, e.g.\n"
            f"    git clone --branch {EVALUATOR_TAG} {GITHUB}/dbt-project-evaluator {self.evaluator}\n"
            f"    git clone --branch {DBT_UTILS_TAG} {GITHUB}/dbt-utils {self.dbt_utils}\n"
            "  or set EVALUATOR_DIR / DBT_UTILS_DIR to copies elsewhere"
        )


@dataclass
class Evaluation:
    returncode: int
    output: str
    findings: dict[str, int]  # evaluator rule (test) -> rows it flags

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.findings


def install_packages(copies: Copies) -> None:
    packages = EVALUATION_PROJECT / "dbt_packages"
    packages.mkdir(exist_ok=True)
    for name, target in (
        ("dbt_project_evaluator", copies.evaluator),
        ("dbt_utils", copies.dbt_utils),
        ("delivery_linkage", project.project_dir()),
    ):
        link = packages / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path(target).resolve(), target_is_directory=True)


def evaluate(copies: Copies | None = None) -> Evaluation:
    copies = copies or Copies.from_environment()
    if message := copies.missing():
        raise FileNotFoundError(message)
    install_packages(copies)
    os.environ["DBT_PROFILES_DIR"] = str(dbt_runner.profiles_dir())  # the project's profiles.example.yml
    server = connection.resolve("postgres")
    if not app_fixture.database_exists(server, DATABASE):
        app_fixture.create_database(server, DATABASE)
    result = dbt_runner.run_dbt(
        ["build", "--select", "package:dbt_project_evaluator", "dbt_project_evaluator_exceptions"],
        server.with_database(DATABASE),
        project_dir=EVALUATION_PROJECT,
        extra_env={"DBT_SCHEMA": SCHEMA},
        target_path=TARGET,
    )
    findings = {}
    run_results = EVALUATION_PROJECT / TARGET / "run_results.json"
    if run_results.exists():
        for row in json.loads(run_results.read_text())["results"]:
            if row["unique_id"].startswith("test.dbt_project_evaluator.") and row["status"] != "pass":
                findings[row["unique_id"].split(".")[2]] = row.get("failures") or 0
    return Evaluation(result.returncode, result.output, findings)


def issues_report(output: str) -> str:
    """The evaluator's own list of issues (its on-run-end hook's tables), from dbt's output."""
    marker = "### List of issues raised by dbt_project_evaluator ###"
    text = output[output.rfind(marker) :] if marker in output else ""
    lines = [line for line in text.splitlines() if not line.startswith("\x1b[0m") and "hook:" not in line]
    return "\n".join(lines).strip()


def main() -> int:
    try:
        evaluation = evaluate()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if evaluation.returncode != 0:
        print(evaluation.output[-6000:], file=sys.stderr)
        return 3
    print(issues_report(evaluation.output))
    if evaluation.findings:
        for rule, rows in sorted(evaluation.findings.items()):
            print(f"FLAGGED {rule}: {rows} rows")
        return 1
    print(
        "dbt-project-evaluator: clean (exceptions kept on purpose, with reasons: "
        f"{(EVALUATION_PROJECT / 'seeds' / 'dbt_project_evaluator_exceptions.csv').relative_to(CHECKOUT_DIR)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
