"""python -m delivery_linkage_devtools.interleavings [--levels rc,rr,ser] [--pair a,b …] [--workers N] …"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from delivery_linkage_devtools import interleavings
from delivery_linkage_devtools.interleavings import operations, space


def parse(argv: list[str]) -> tuple[interleavings.InterleavingOptions, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m delivery_linkage_devtools.interleavings",
        description="Every pair of app operations, every permutation of their sessions' steps, at each isolation "
        "level, with the linkage and without it (control): invariants at quiescence, and no error or wait the "
        "app sees only with the linkage.",
    )
    levels = {name: level for level, name in space.LEVEL_NAMES.items()}
    parser.add_argument("--levels", default="rc,rr,ser", help="isolation levels, of rc, rr, ser (default all)")
    parser.add_argument(
        "--fallback",
        choices=("off", "on", "both"),
        default="both",
        help="LINK_USER_BY_PHONE_FALLBACK_TO_USERS for the cases: off, on, or both (default: both, each case twice)",
    )
    parser.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="FIRST,SECOND",
        help=f"only this pair of operations (repeatable); operations: {', '.join(operations.BY_NAME)}",
    )
    parser.add_argument(
        "--case",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="only case N (repeatable; numbered as the report numbers them, over the chosen levels and pairs), "
        "printed step by step on both databases as the isolation tester prints a permutation",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes, each with its own databases (default 2)"
    )
    parser.add_argument("--out", type=Path, default=interleavings.OUTPUT_DIR, help="directory of the results")
    parser.add_argument("--name", default="interleavings", help="results file name, NAME.json and NAME.md")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results files")
    parser.add_argument("--quiet", action="store_true", help="print the counts, not every failure")
    parser.add_argument("--keep-databases", action="store_true", help="keep the databases (to look at the rows)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any case fails")
    args = parser.parse_args(argv)

    pairs = None
    if args.pair:
        pairs = set()
        for text in args.pair:
            first, _, second = text.partition(",")
            for name in (first, second):
                if name not in operations.BY_NAME:
                    parser.error(f"no operation {name!r}; operations: {', '.join(operations.BY_NAME)}")
            pairs.add((first, second))
    try:
        chosen = tuple(levels[name.strip()] for name in args.levels.split(","))
    except KeyError as error:
        parser.error(f"no isolation level {error}; use rc, rr, ser")
    options = interleavings.InterleavingOptions(
        levels=tuple(level for level in space.LEVELS if level in chosen),
        fallbacks={"off": (False,), "on": (True,), "both": space.FALLBACKS}[args.fallback],
        pairs=pairs,
        case_numbers=set(args.case) or None,
        workers=args.workers,
        output_dir=None if args.no_write else args.out,
        output_name=args.name,
        command=interleavings.command_line(),
        keep_databases=args.keep_databases,
        print_failures=not args.quiet,
    )
    return options, args.strict


def main(argv: list[str] | None = None) -> int:
    options, strict = parse(sys.argv[1:] if argv is None else argv)
    result = interleavings.run(options, console=Console())
    return 1 if strict and result["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
