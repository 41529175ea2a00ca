"""Benchmark: `symoe demo` wall and CPU time per stage, quiet and beside busy processes.

The runs and the table are :mod:`benchmarks.tools.demo_time`.

Usage::

    python benchmarks/demo_time.py                                   # transformers, 0 and 1 busy processes
    python benchmarks/demo_time.py --engines transformers,vllm --modes before,after --repeat 3 --output-json
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.demo_time import DemoTimeConfig, demo_time_table, run_demo_time
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], DemoTimeConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    result = run_demo_time(config_from_args(DemoTimeConfig, args))
    console = Console(width=max(Console().width, 120))
    console.print(demo_time_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
