"""Train the skill zoo on CPU and write its benchmark files: ``python3 scripts/train_zoo.py``.

Writes ``zoo/data/zoo_{validation,test}.jsonl``, ``zoo/weights/<expert>/`` and
``zoo/weights/training_record.json``. Takes about 15 minutes on two shared CPU cores;
``--experts NAME ...`` retrains only some experts (the record keeps the others' entries). The committed
weights were produced by exactly this command, so CI and users never need to run it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from orchestrator.bench.demo import zoo_task_format
from zoo.spec import ZOO_SPECS, ZOO_WEIGHTS_DIR
from zoo.tasks import ZOO_DATA_DIR
from zoo.train import train_zoo


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Train the skill zoo on CPU and write its benchmark files.")
    parser.add_argument("--experts", nargs="*", default=None, help="Only these experts (default: all).")
    parser.add_argument("--weights-dir", type=Path, default=ZOO_WEIGHTS_DIR)
    parser.add_argument("--data-dir", type=Path, default=ZOO_DATA_DIR)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest when shared).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("batching.engines.hf_engine", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    specs = [s for s in ZOO_SPECS if args.experts is None or s.name in args.experts]
    train_zoo(
        specs,
        zoo_task_format(),
        weights_dir=args.weights_dir,
        data_dir=args.data_dir,
        threads=args.threads,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
