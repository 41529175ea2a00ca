"""Benchmark: cold against warm `symoe bench` on MATH-500 (math-verify verdicts and embeddings cached or not).

The runs and the table are :mod:`benchmarks.tools.math_speed`.

Usage::

    python benchmarks/math_verify_speed.py                      # configs/bench/math500.yaml
    python benchmarks/math_verify_speed.py --limit 100 --output-json
    python benchmarks/math_verify_speed.py --census-sample 400       # also: where the cold time goes
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.math_speed import MathSpeedConfig, math_speed_table, run_math_speed
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], MathSpeedConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    result = run_math_speed(config_from_args(MathSpeedConfig, args))
    console = Console(width=max(Console().width, 140))
    console.print(math_speed_table(result))
    if result.census is not None:
        console.print(result.census.model_dump())
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
