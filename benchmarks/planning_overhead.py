"""Benchmark: how long ``plan_stage`` takes at the paper's scale (12,000 instances x 3 of 16 experts).

Usage::

    python benchmarks/planning_overhead.py                     # prints mean/p50/p90/p99 over 10 repeats
    python benchmarks/planning_overhead.py --output-json       # also writes benchmarks/results/<date>/...

The logic lives in :mod:`benchmarks.tools.speed`; this file only parses flags and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.speed import (
    PlanningConfig,
    benchmark_parser,
    config_from_args,
    planning_table,
    run_planning_overhead,
    write_result,
)


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], PlanningConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(PlanningConfig, args)
    console = Console(width=max(Console().width, 110))  # keep the table readable when piped
    result = run_planning_overhead(cfg)
    console.print(planning_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
