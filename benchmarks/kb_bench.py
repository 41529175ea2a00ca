"""Benchmark: knowledge-store ingestion rate, query p50/p99 and recall@10 of dense, BM25 and hybrid search.

Usage::

    python benchmarks/kb_bench.py                         # 10k embedded + 100k random-vector passages
    python benchmarks/kb_bench.py --large-n 0 --small-n 2000 --queries 60    # a quick look
    python benchmarks/kb_bench.py --output-json           # also writes benchmarks/results/<date>/...

The corpora are synthetic; the 100k corpus uses random vectors (see :mod:`benchmarks.tools.kb`).
The logic lives in :mod:`benchmarks.tools.kb`; this file only parses flags and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.kb import KbBenchConfig, kb_tables, run_kb_bench
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], KbBenchConfig)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    import bm25s  # noqa: F401  (it sets its own logger to DEBUG on import; quiet it after that)

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    cfg = config_from_args(KbBenchConfig, args)
    console = Console(width=max(Console().width, 130))  # keep the tables readable when piped
    result = run_kb_bench(cfg)
    for table in kb_tables(result):
        console.print(table)
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
