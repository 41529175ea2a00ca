"""Benchmark: embedding backends side by side (cold `symoe bench`, top-10 neighbours, accuracies, ingestion).

The runs and the tables are :mod:`benchmarks.tools.embed_speed`.

Usage::

    python benchmarks/embedding_speed.py                       # MMLU-Pro, torch vs onnx vs onnx-int8
    python benchmarks/embedding_speed.py --limit 200 --passages 500 --output-json
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.embed_speed import (
    EmbedSpeedConfig,
    accuracy_table,
    embed_speed_table,
    run_embed_speed,
)
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], EmbedSpeedConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    result = run_embed_speed(config_from_args(EmbedSpeedConfig, args))
    console = Console(width=max(Console().width, 140))
    console.print(embed_speed_table(result))
    console.print(accuracy_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
