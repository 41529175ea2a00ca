"""Benchmark: the knowledge store on a BEIR-format folder: dense, BM25, hybrid and hybrid + reranker.

Usage::

    python benchmarks/kb_collection.py --folder ~/beir/scifact            # nDCG@10, recall@10, p50/p99 ms
    python benchmarks/kb_collection.py --folder ~/beir/scifact --reranker ~/models/ms-marco-MiniLM-L6-v2
    python benchmarks/kb_collection.py --folder /tmp/tiny --tiny          # writes and measures a tiny
                                                                          # collection of the project's own

The logic lives in :mod:`benchmarks.tools.collection`; this file only parses flags and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from benchmarks.tools.collection import CollectionBenchConfig, run_collection_bench, tiny_collection
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    parser = benchmark_parser(__doc__.splitlines()[0], CollectionBenchConfig)
    parser.add_argument(
        "--tiny", action="store_true", help="first write a tiny synthetic collection to --folder"
    )
    return parser


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(CollectionBenchConfig, args)
    if args.tiny:
        tiny_collection(Path(cfg.folder))
    result = run_collection_bench(cfg)
    table = Table(
        title=f"{cfg.folder}: {result.documents:,} documents ({result.chunks:,} chunks), "
        f"{result.queries} queries; ingest {result.ingest_s:.1f}s wall, {result.ingest_cpu_s:.1f}s CPU"
    )
    for col in ("search", "nDCG@10", f"recall@{cfg.k}", "MRR", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "search" else "right")
    for r in result.rows:
        table.add_row(
            r.label,
            f"{r.ndcg_at_10:.3f}",
            f"{r.recall_at_k:.3f}",
            f"{r.mrr:.3f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
        )
    console = Console(width=max(Console().width, 130))
    console.print(table)
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
