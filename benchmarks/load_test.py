"""Benchmark: the HTTP service under concurrent chat requests on loopback (:mod:`benchmarks.tools.load`).

Usage::

    python benchmarks/load_test.py                                    # replay pool, windows 0, 20, 100 ms
    python benchmarks/load_test.py --pool zoo --requests 200 --concurrency 1,4,16 --windows-ms 20 \\
        --compare-per-call --output-json                              # sessions vs a session per call
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.load import LoadConfig, load_table, run_load
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], LoadConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(LoadConfig, args)
    console = Console(width=max(Console().width, 130))
    result = run_load(cfg)
    console.print(load_table(result))
    for c in sorted({w.concurrency for w in result.windows}):
        ratio = result.throughput_ratio(c)
        if ratio is not None:
            console.print(f"{c} in flight: session / per-call throughput = {ratio:.1f}x")
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 1 if any(w.lost for w in result.windows) else 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
