"""Where a developer tool's run is written: NAME.json (every figure, for the tests and the docs) and
NAME.md (the same for a reader), side by side in one folder."""

from __future__ import annotations

import json
from pathlib import Path


def write(result: dict, directory: Path, name: str, markdown: str, indent: int = 2) -> tuple[Path, Path]:
    """Writes directory/NAME.json (result; values JSON cannot hold as their text) and directory/NAME.md
    (markdown), creating the folder; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=indent, default=str) + "\n")
    md_path.write_text(markdown)
    return json_path, md_path
