"""Benchmark: peak memory (RSS) of `symoe kb add` as the corpus grows, to check that ingest streams.

Usage::

    python benchmarks/kb_memory.py                       # JSONL corpora of 2, 16 and 64 MiB
    python benchmarks/kb_memory.py --mib 2 8 --distinct 500

Each corpus is a JSONL file of synthetic passages (:mod:`orchestrator.retrieval.synthetic`); its rows
cycle over ``--distinct`` passages, so only those are embedded (the embedding model's cost is fixed)
while every row is chunked, written and indexed as its own document. Each ``symoe kb add`` runs in a
fresh process (a new store, a new embedding cache); its peak RSS is read from ``getrusage``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.retrieval.synthetic import synthetic_corpus

ROOT = Path(__file__).resolve().parents[1]


def write_corpus(path: Path, mib: float, distinct: int) -> int:
    """A JSONL corpus of about ``mib`` MiB; returns its rows."""
    texts = synthetic_corpus(distinct, seed=0)
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        while fh.tell() < mib * 2**20:
            d = texts[rows % distinct]
            fh.write(json.dumps({"id": f"r{rows}", "title": d["title"], "text": d["text"]}) + "\n")
            rows += 1
    return rows


_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_maxrss, u.ru_utime + u.ru_stime)"
)


def measure(corpus: Path, workdir: Path, pythonpath: str) -> tuple[float, float, float]:
    """(peak RSS MiB, wall s, CPU s) of one `symoe kb add` in a fresh process (measured by a wrapper
    process of its own, so each figure is that add's alone)."""
    env = {**os.environ, "PYTHONPATH": pythonpath, "SYMOE_HOME": str(workdir / "home")}
    kb = str(workdir / "kb")
    command = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "kb",
        "add",
        str(corpus),
        "--kb",
        kb,
        "--no-progress",
    ]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *command], check=True, env=env, capture_output=True,
                         text=True)  # fmt: skip
    wall = time.perf_counter() - start
    rss_kib, cpu = out.stdout.split()
    return int(rss_kib) / 1024, wall, float(cpu)


def main(args: argparse.Namespace) -> int:
    print("| corpus | rows (chunks) | peak RSS | wall | CPU |")
    print("|---|---|---|---|---|")
    for mib in args.mib:
        with tempfile.TemporaryDirectory(prefix="kb-memory-") as tmp:
            corpus = Path(tmp) / "corpus.jsonl"
            rows = write_corpus(corpus, mib, args.distinct)
            rss, wall, cpu = measure(corpus, Path(tmp), args.pythonpath)
            print(
                f"| {mib:g} MiB JSONL | {rows:,} | {rss:,.0f} MiB | {wall:.1f} s | {cpu:.1f} s |", flush=True
            )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, nargs="+", default=[2, 16, 64], help="corpus sizes in MiB")
    parser.add_argument("--distinct", type=int, default=1000, help="distinct passages (the ones embedded)")
    parser.add_argument("--pythonpath", default=str(ROOT), help="the checkout whose code runs the add")
    sys.exit(main(parser.parse_args()))
