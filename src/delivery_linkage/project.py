"""Where the dbt project is (with the GX suites beside it), and where the commands write.

The project is the checkout's root in a checkout; a wheel carries a copy of it as package data
(`delivery_linkage/project/`, copied by setup.py at build time). `project_dir()` finds it, in this
order: an explicit `--project-dir`, the environment variable LINKAGE_PROJECT_DIR, the checkout this
package runs from (an editable install), the copy inside the installed package.

Nothing is ever written inside an installed package: when the project is that copy (or a folder the
user cannot write to), dbt's target/ and logs/, the private profiles copy (.dbt/) and the GX results
and Data Docs (gx/uncommitted/) go to the per-user data directory instead (LINKAGE_DATA_DIR, default
`~/.local/share/delivery_linkage`, XDG_DATA_HOME honoured), in the checkout's layout. The embedded
server's data directory belongs to the installation, not to a project: `<checkout>/.pgdata` in a
checkout, else `<data directory>/.pgdata` (LINKAGE_PGDATA overrides both).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_NAME = "delivery_linkage"
PROJECT_VARIABLE = "LINKAGE_PROJECT_DIR"
DATA_VARIABLE = "LINKAGE_DATA_DIR"
PACKAGED_PROJECT = Path(__file__).resolve().parent / "project"
"""The copy of the project a wheel carries (absent from a checkout: setup.py copies it at build time)."""
_CHECKOUT_CANDIDATE = Path(__file__).resolve().parents[2]
_NAME_LINE = re.compile(r"^name:\s*['\"]?([A-Za-z0-9_]+)['\"]?\s*$", re.M)


class ProjectNotFound(RuntimeError):
    """The dbt project could not be found; the message names the cause and the fix."""


def is_project(path: Path) -> bool:
    """Does path hold delivery_linkage's dbt_project.yml?"""
    config = Path(path) / "dbt_project.yml"
    if not config.is_file():
        return False
    found = _NAME_LINE.search(config.read_text(errors="replace"))
    return found is not None and found.group(1) == PROJECT_NAME


def checkout_dir() -> Path | None:
    """The checkout this package runs from (an editable install), or None when installed from a wheel."""
    root = _CHECKOUT_CANDIDATE
    return root if (root / "src" / "delivery_linkage").is_dir() and is_project(root) else None


def project_dir(explicit: str | Path | None = None) -> Path:
    """The dbt project's directory: explicit (--project-dir), LINKAGE_PROJECT_DIR, the checkout, the packaged copy.

    Raises ProjectNotFound (cause and fix) when a named directory is not the project, or when none is found.
    """
    for source, value in (("--project-dir", explicit), (PROJECT_VARIABLE, os.environ.get(PROJECT_VARIABLE))):
        if value:
            path = Path(value).expanduser().resolve()
            if not is_project(path):
                raise ProjectNotFound(
                    f"{source} names {path}, which holds no dbt_project.yml of {PROJECT_NAME}\n"
                    f"  fix: name a checkout of {PROJECT_NAME} (the folder with its dbt_project.yml), "
                    f"or leave {source} unset to use the copy installed with the package"
                )
            return path
    for path in (checkout_dir(), PACKAGED_PROJECT):
        if path is not None and is_project(path):
            return path
    raise ProjectNotFound(
        f"the {PROJECT_NAME} dbt project was not found: this installation is not a checkout and carries no copy "
        f"of it (looked in {PACKAGED_PROJECT})\n"
        f"  fix: pass --project-dir DIR or set {PROJECT_VARIABLE}=DIR (a checkout of {PROJECT_NAME}), or install "
        "the wheel built by `python -m build --wheel` (it carries the project)"
    )


def is_packaged(path: Path) -> bool:
    """Is path the copy of the project inside the installed package?"""
    return Path(path).resolve() == PACKAGED_PROJECT


def data_dir() -> Path:
    """The per-user data directory: LINKAGE_DATA_DIR, else the platform's (~/.local/share/delivery_linkage)."""
    if os.environ.get(DATA_VARIABLE):
        return Path(os.environ[DATA_VARIABLE]).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir(PROJECT_NAME, appauthor=False)).resolve()


def output_dir(project: Path) -> Path:
    """Where the commands write for this project (dbt's target/ and logs/, .dbt/, gx/uncommitted/): the
    project itself when it is a folder of the user's (a checkout), else the per-user data directory."""
    project = Path(project).resolve()
    if is_packaged(project) or not os.access(project, os.W_OK):
        return data_dir()
    return project


def embedded_data_dir() -> Path:
    """The embedded server's data directory: LINKAGE_PGDATA, else .pgdata in the checkout or the data directory."""
    if os.environ.get("LINKAGE_PGDATA"):
        return Path(os.environ["LINKAGE_PGDATA"]).expanduser().resolve()
    return (checkout_dir() or data_dir()) / ".pgdata"
