"""The product's wheel carries the dbt project and the Great Expectations suites as package data.

They stay at the checkout's root (data teams also install the dbt project from git, as a dbt package);
building a wheel copies them into `delivery_linkage/project/`, in the same layout, where
delivery_linkage.project finds them when the package is not a checkout. An editable install copies
nothing: it reads the checkout. An sdist carries the same files, so a wheel built from it has them too.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = (
    "dbt_project.yml",
    "profiles.example.yml",
    "macros",
    "models",
    "data-tests",
    "analyses",
    "seeds",
    "snapshots",
    "scripts/daily-delivery-integrity-check.sql",
    "gx/expectations",
    "gx/README.md",
)
"""What dbt and `linkage validate` read, relative to the checkout's root (a folder: every file in it)."""
SKIPPED = ("__pycache__", "*.pyc", ".DS_Store")


def project_files() -> list[str]:
    """Every file of PROJECT_FILES that exists, relative to the root, sorted."""
    found = []
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_file():
            found.append(name)
        elif path.is_dir():
            found += [
                file.relative_to(ROOT).as_posix()
                for file in sorted(path.rglob("*"))
                if file.is_file() and not any(file.match(pattern) for pattern in SKIPPED)
            ]
    return found


class BuildPyWithProject(build_py):
    """build_py, then the project's files into <build>/delivery_linkage/project/ (not for an editable install)."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        destination = Path(self.build_lib) / "delivery_linkage" / "project"
        shutil.rmtree(destination, ignore_errors=True)
        for name in project_files():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, target)


class SdistWithProject(sdist):
    """sdist, with the project's files in its tree (a wheel built from the sdist copies them from there)."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        for name in project_files():
            target = Path(base_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, target)


setup(cmdclass={"build_py": BuildPyWithProject, "sdist": SdistWithProject})
