"""python -m delivery_linkage_devtools.concurrency [--operations N] [--connections K] [--seed S] [--quick] …"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rich.console import Console

from delivery_linkage_devtools import concurrency
from delivery_linkage_devtools.concurrency import report, runner, world


def parse(argv: list[str]) -> tuple[concurrency.ConcurrencyOptions, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m delivery_linkage_devtools.concurrency",
        description="The same app workload on K connections, with the linkage's triggers disabled (control), with "
        "the minimal trigger instead, and with the linkage and its sweeper, side by side: errors, lock waits, "
        "latency, how long deliveries stay linkable but NULL, invariants at quiescence; issue 15's targets.",
    )
    parser.add_argument("--operations", type=int, help="operations in all (default 100000; --quick: 2000)")
    parser.add_argument("--connections", type=int, help="connections (default 6; --quick: 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload and of the world (default 1)")
    parser.add_argument("--world-seed", type=int, help="seed of the world alone (default: --seed)")
    parser.add_argument("--quick", action="store_true", help="a small world and 2000 operations")
    parser.add_argument("--only", choices=list(report.RUNS), action="append", help="run only these (repeatable)")
    parser.add_argument("--lock-timeout", default="2s", help="the app sessions' lock_timeout (default 2s)")
    parser.add_argument("--deadlock-timeout", help="the app sessions' deadlock_timeout (default: the server's)")
    parser.add_argument("--sample-interval", type=float, default=0.01, help="lock-wait sampling interval, s")
    parser.add_argument("--sweep-interval", type=float, default=1.0, help="the sweeper's interval, s (default 1)")
    parser.add_argument(
        "--linkable-interval", type=float, default=0.5, help="linkable-but-NULL sampling interval, s (default 0.5)"
    )
    parser.add_argument("--out", type=Path, default=concurrency.OUTPUT_DIR, help="directory of the results")
    parser.add_argument(
        "--name",
        help="results file name, NAME.json and NAME.md (default concurrency; --quick: concurrency-quick; with --mix:"
        " concurrency-experiment)",
    )
    parser.add_argument(
        "--mix",
        action="append",
        default=[],
        metavar="KIND=WEIGHT",
        help="override one operation kind's weight (repeatable; an experiment, e.g. flag_flip=0 never turns the"
        " users fallback on); such a run is never published over the figures",
    )
    parser.add_argument("--keep-databases", action="store_true", help="keep the world and run databases")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the linkage run violates an invariant")
    args = parser.parse_args(argv)

    world_seed = args.world_seed if args.world_seed is not None else args.seed
    base = concurrency.ConcurrencyOptions.quick(seed=args.seed) if args.quick else concurrency.ConcurrencyOptions()
    shape = world.WorldShape.quick(world_seed) if args.quick else world.WorldShape(seed=world_seed)
    options = dataclasses.replace(
        base,
        seed=args.seed,
        shape=shape,
        run=runner.RunSettings(
            lock_timeout=args.lock_timeout,
            deadlock_timeout=args.deadlock_timeout,
            sample_interval=args.sample_interval,
            sweep_interval=args.sweep_interval,
            linkable_interval=args.linkable_interval,
        ),
        variants=tuple(v for v in base.variants if v in args.only) if args.only else base.variants,
        output_dir=args.out,
        output_name=args.name
        or ("concurrency-quick" if args.quick else "concurrency-experiment" if args.mix else "concurrency"),
        keep_databases=args.keep_databases,
        mix={kind: float(weight) for kind, _, weight in (item.partition("=") for item in args.mix)},
        command=concurrency.command_line(),
    )
    if args.operations:
        options = dataclasses.replace(options, operations=args.operations)
    if args.connections:
        options = dataclasses.replace(options, connections=args.connections)
    return options, args.strict


def main(argv: list[str] | None = None) -> int:
    options, strict = parse(sys.argv[1:] if argv is None else argv)
    result = concurrency.run(options, console=Console())
    linkage = result["runs"].get(report.LINKAGE)
    if strict and linkage and linkage["invariants"]["total"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
