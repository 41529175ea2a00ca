"""Benchmark: grouped load-once execution vs naive per-instance load/generate/unload (tiny local models).

Usage::

    python benchmarks/grouped_vs_naive.py                      # 64 instances x 3 experts, prints a table
    python benchmarks/grouped_vs_naive.py --output-json        # also writes benchmarks/results/<date>/...
    python benchmarks/grouped_vs_naive.py --n-instances 16 --output-json out.json

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
    SpeedConfig,
    benchmark_parser,
    config_from_args,
    run_speed,
    speed_table,
    write_result,
)


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(
        __doc__.splitlines()[0], SpeedConfig, "logging level (INFO shows loads/evictions)"
    )


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(SpeedConfig, args)
    console = Console(width=max(Console().width, 110))  # keep the table readable when piped
    console.print(f"config: {cfg.model_dump(mode='json')}")
    result = run_speed(cfg)
    console.print(speed_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0 if result.outputs_identical else 1


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
