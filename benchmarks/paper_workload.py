"""Benchmark: the paper's 16-expert workload (real architectures, random weights), grouped against naive.

The pool, the protocol and the table are :mod:`benchmarks.tools.paper_workload`.

Usage::

    python benchmarks/paper_workload.py --questions 32                 # tiny shapes on CPU (seconds)
    python benchmarks/paper_workload.py --scale real --engine vllm --output-json   # one GPU, < 8 minutes
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.paper_workload import PaperWorkloadConfig, paper_workload_table, run_paper_workload
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], PaperWorkloadConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    result = run_paper_workload(config_from_args(PaperWorkloadConfig, args))
    console = Console(width=max(Console().width, 140))
    console.print(paper_workload_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
