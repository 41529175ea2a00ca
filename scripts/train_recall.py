"""Train the recall experts (``zoo/weights/zoo-recall-*``) and write ``zoo/weights/recall_record.json``.

Each expert starts from the committed reader; see :mod:`zoo.recall`. About 18 minutes per expert on one
core; ``--parallel`` trains them side by side, one process and one torch thread each.

    python3 scripts/train_recall.py [--experts zoo-recall-a ...] [--parallel 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from orchestrator.bench.demo import zoo_task_format
from zoo.recall import RECALL_RECORD_FILE, measure_recall, train_recall
from zoo.recall_splits import write_recall_files
from zoo.spec import RECALL_SPECS, ZOO_WEIGHTS_DIR
from zoo.tasks import ZOO_DATA_DIR


def _train(name: str, weights_dir: Path) -> dict[str, Any]:
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    spec = next(s for s in RECALL_SPECS if s.name == name)
    return train_recall(spec, zoo_task_format(), weights_dir / name, weights_dir=weights_dir)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Train the recall experts of the gate's harder test bed.")
    parser.add_argument("--experts", nargs="*", default=[s.name for s in RECALL_SPECS])
    parser.add_argument("--weights-dir", type=Path, default=ZOO_WEIGHTS_DIR)
    parser.add_argument("--data-dir", type=Path, default=ZOO_DATA_DIR)
    parser.add_argument("--parallel", type=int, default=1, help="experts trained at once (one core each)")
    parser.add_argument("--measure-only", action="store_true", help="Rewrite the record from the weights.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("batching.engines.hf_engine").setLevel(logging.WARNING)
    write_recall_files(args.data_dir)
    record_path = args.weights_dir / RECALL_RECORD_FILE
    old = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    training: dict[str, Any] = dict(old.get("training", {}))
    if not args.measure_only:
        with ProcessPoolExecutor(max_workers=args.parallel) as pool:
            futures = {name: pool.submit(_train, name, args.weights_dir) for name in args.experts}
            training.update({name: f.result() for name, f in futures.items()})
    measure_recall(training, zoo_task_format(), weights_dir=args.weights_dir, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
