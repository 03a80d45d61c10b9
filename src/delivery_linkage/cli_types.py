"""The kinds of values the `linkage` options take, checked when the command line is parsed (typer's
`parser=`): a bad value stops the command before it connects anywhere, with exit 64 (EX_USAGE) and a
message naming the option, the value and what is allowed:
`Invalid value for '--critical-pct': 'nan' is not allowed: a finite number from 0 to 100 (…)`."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer


def finite_number(
    minimum: float, maximum: float, meaning: str, minimum_open: bool = False, decimals: int | None = None
) -> Callable:
    """A finite decimal number in [minimum, maximum] (or (minimum, maximum]), with at most `decimals`
    decimals when given; nan, inf refused."""
    low = f"above {minimum:g}" if minimum_open else f"from {minimum:g}"
    places = f" with at most {decimals} decimals" if decimals is not None else ""
    allowed = f"a finite number {low} to {maximum:g}{places} ({meaning})"

    def parse(value) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                number = math.nan
        too_low = number <= minimum if minimum_open else number < minimum
        too_precise = decimals is not None and math.isfinite(number) and round(number, decimals) != number
        if not math.isfinite(number) or too_low or number > maximum or too_precise:
            raise typer.BadParameter(f"{value!r} is not allowed: {allowed}")
        return number

    return parse


def whole_number(minimum: int, maximum: int, meaning: str) -> Callable:
    """A whole number in [minimum, maximum], written in digits."""
    allowed = f"a whole number from {minimum:,} to {maximum:,} ({meaning})"

    def parse(value) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().replace("_", "")
            number = int(text) if text.lstrip("+-").isdigit() else None
        if number is None or not minimum <= number <= maximum:
            raise typer.BadParameter(f"{value!r} is not allowed: {allowed}")
        return number

    return parse


def output_file(value) -> Path:
    """A file to write: its folder must exist (nothing is created behind the user's back) and the path
    must not be a folder."""
    allowed = "a file path in an existing folder"
    path = Path(value).expanduser()
    if path.is_dir():
        raise typer.BadParameter(f"{str(value)!r} is a folder; allowed: {allowed}")
    return _in_an_existing_folder(value, path, "its folder", f"{allowed} (create the folder first)")


def output_folder(value) -> Path:
    """A folder to write into: it may be new, but its parent must exist; an existing path must be a folder."""
    allowed = "a folder (new or existing) in an existing folder"
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{str(value)!r} is a file; allowed: {allowed}")
    return _in_an_existing_folder(value, path, "its parent folder", allowed)


def _in_an_existing_folder(value, path: Path, folder_name: str, allowed: str) -> Path:
    folder = path.resolve().parent
    if not folder.is_dir():
        raise typer.BadParameter(f"{str(value)!r}: {folder_name} {folder} does not exist; allowed: {allowed}")
    return path


def template_file(value) -> Path:
    """A readable Jinja2 template (compiled when parsed: a syntax error is a usage error)."""
    from delivery_linkage.operations.alerts import AlertSetupError, load_template

    path = Path(value).expanduser()
    if not path.is_file():
        raise typer.BadParameter(f"{str(value)!r} is not a file; allowed: a Jinja2 template file")
    try:
        load_template(path)
    except AlertSetupError as error:
        raise typer.BadParameter(f"{str(value)!r}: {error}; allowed: a valid Jinja2 template file") from None
    return path


PERCENTAGE = finite_number(0, 100, "a percentage of all deliveries", decimals=2)  # the models' numeric(5,2)
ALERT_TIMEOUT = finite_number(0, 300, "seconds, retries included", minimum_open=True)
ALERT_RETRIES = whole_number(0, 10, "retries of a failed post")
BATCH_SIZE = whole_number(1, 1_000_000, "deliveries per batch")
