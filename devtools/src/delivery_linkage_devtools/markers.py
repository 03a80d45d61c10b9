"""The one writer of generated blocks: text a command writes into a hand-written page, between markers.

    <!-- NAME:begin (written by COMMAND; do not edit) -->
    …what the command rendered from its results…
    <!-- NAME:end -->

A block may span lines (a table) or sit inside one (a cell of a table row); the markers are HTML
comments, so Markdown shows only what is between them. Everything outside the markers is the page's
own and is never touched.
"""

from __future__ import annotations

import re
from pathlib import Path


def begin(name: str, command: str) -> str:
    return f"<!-- {name}:begin (written by {command}; do not edit) -->"


def end(name: str) -> str:
    return f"<!-- {name}:end -->"


def block(name: str, command: str, body: str) -> str:
    """The block as it stands in the page, markers included; a body of several lines gets a line each
    for its markers."""
    if "\n" in body:
        return f"{begin(name, command)}\n{body.strip(chr(10))}\n{end(name)}"
    return f"{begin(name, command)}{body}{end(name)}"


def _span(text: str, name: str) -> tuple[int, int] | None:
    """Where the block `name` starts (its begin marker) and ends (after its end marker), or None."""
    start = re.search(rf"<!-- {re.escape(name)}:begin[ (]", text)
    if start is None:
        return None
    stop = text.find(end(name), start.start())
    if stop < 0:
        return None
    return start.start(), stop + len(end(name))


def names(text: str) -> list[str]:
    """The names of the blocks a page has, in order."""
    return re.findall(r"<!-- ([\w.-]+):begin[ (]", text)


def read(text: str, name: str) -> str:
    """The block `name` of a page, markers included (ValueError when the page has none)."""
    span = _span(text, name)
    if span is None:
        raise ValueError(f"no block {name!r} ({begin(name, '…')} … {end(name)})")
    return text[span[0] : span[1]]


def put(text: str, whole: str) -> str:
    """The page with a block (as `block` renders it, markers included) written in place of the block of
    the same name (ValueError when the page has no such markers: a block is placed by hand, once, and
    written by its command ever after)."""
    name = names(whole)[0]
    span = _span(text, name)
    if span is None:
        raise ValueError(f"no {name} markers ({begin(name, '…')} … {end(name)})")
    return text[: span[0]] + whole + text[span[1] :]


def write(path: Path, whole: str) -> bool:
    """Writes a block into the page at `path`; True when the page changed."""
    text = path.read_text()
    try:
        new = put(text, whole)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if new != text:
        path.write_text(new)
    return new != text
