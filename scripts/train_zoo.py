"""Train the skill zoo on CPU and write its benchmark files: ``python3 scripts/train_zoo.py``.

Writes ``zoo/data/zoo_{validation,test}.jsonl``, ``zoo/weights/<expert>/`` and
``zoo/weights/training_record.json``. Takes about 15 minutes on two shared CPU cores;
``--experts NAME ...`` retrains only some experts (the record keeps the others' entries). The committed
weights were produced by exactly this command, so CI and users never need to run it.

The retrieval test bed (issue 13) is part of it: ``zoo/data/facts_kb.jsonl`` and
``zoo/data/zoo_rag_{validation,test}.jsonl`` are written every time (identical bytes), and
``--experts zoo-reader`` trains the reader (about 30 minutes on one core) and writes
``zoo/weights/reader_record.json``: its accuracy with and without passages, and every zoo expert's
accuracy with irrelevant passages prepended. ``--measure-only`` rewrites that record from the committed
weights without training.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from orchestrator.bench.demo import zoo_task_format
from zoo.rag_splits import write_rag_files
from zoo.reader_record import measure_reader_record, train_reader_record
from zoo.spec import READER_SPEC, ZOO_SPECS, ZOO_WEIGHTS_DIR
from zoo.tasks import ZOO_DATA_DIR
from zoo.train import train_zoo


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Train the skill zoo on CPU and write its benchmark files.")
    parser.add_argument(
        "--experts", nargs="*", default=None, help="Only these experts, zoo-reader included (default: all)."
    )
    parser.add_argument("--weights-dir", type=Path, default=ZOO_WEIGHTS_DIR)
    parser.add_argument("--data-dir", type=Path, default=ZOO_DATA_DIR)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when shared).")
    parser.add_argument(
        "--measure-only", action="store_true", help="Rewrite reader_record.json from committed weights."
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("batching.engines.hf_engine", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    fmt = zoo_task_format()
    write_rag_files(args.data_dir)
    if args.measure_only:
        measure_reader_record(fmt, weights_dir=args.weights_dir, data_dir=args.data_dir, threads=args.threads)
        return 0
    specs = [s for s in ZOO_SPECS if args.experts is None or s.name in args.experts]
    if specs:
        train_zoo(specs, fmt, weights_dir=args.weights_dir, data_dir=args.data_dir, threads=args.threads)
    if args.experts is None or READER_SPEC.name in args.experts:
        train_reader_record(
            READER_SPEC, fmt, weights_dir=args.weights_dir, data_dir=args.data_dir, threads=args.threads
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
