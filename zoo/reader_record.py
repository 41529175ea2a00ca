"""The reader's record (``weights/reader_record.json``): training facts and every context measurement.

``train_reader_record`` trains the reader and measures; ``measure_reader_record`` measures the
committed weights again. Both read the committed test bed files (``facts_kb.jsonl``,
``zoo_rag_test.jsonl``) and measure on its test split:

- ``reader``: training facts (spec, parameters, steps, wall and CPU seconds, threads).
- ``reader_accuracy``: the reader on facts questions with the right passage alone, behind two
  distractors, with each retriever's top hit (the pool's ``k: 1``; recall@1 and @3), and without
  passages; on the other skills without passages and with the top (irrelevant) passage.
- ``context_effect``: every zoo expert (and the reader) on every category, without passages and with
  the BM25 top hit prepended, as an always-retrieve run would prompt them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from zoo.context_eval import RANK_DEPTH, bm25_rankings, context_effect, reader_accuracy
from zoo.rag_splits import FACTS_KB_FILE, rag_split_path
from zoo.reader import train_reader
from zoo.spec import READER_SPEC, ZOO_SPECS, ZOO_WEIGHTS_DIR, ReaderSpec
from zoo.tasks import SKILLS, ZOO_DATA_DIR, read_rows, zoo_splits
from zoo.train import ZooTaskFormat

logger = logging.getLogger(__name__)

__all__ = ["READER_RECORD_FILE", "measure_reader_record", "train_reader_record"]

READER_RECORD_FILE = "reader_record.json"
READER_RECORD_VERSION = 1
"""Bumped whenever ``reader_record.json`` changes shape."""


def train_reader_record(
    spec: ReaderSpec,
    fmt: ZooTaskFormat,
    *,
    weights_dir: str | Path = ZOO_WEIGHTS_DIR,
    data_dir: str | Path = ZOO_DATA_DIR,
    threads: int = 1,
    extra_rankings: dict[str, list[list[int]]] | None = None,
) -> dict[str, Any]:
    """Train the reader into ``weights_dir/<name>``, then measure and write the record.

    Args:
        spec: the reader.
        fmt: rendering (with ``render_passages``), extraction and scoring.
        weights_dir: where the model folder and the record go.
        data_dir: where the test bed files are (written beforehand).
        threads: torch intra-op threads.
        extra_rankings: further retrievers' rankings of the test split (see :func:`measure_reader_record`).

    Returns:
        The record as written.
    """
    torch.set_num_threads(threads)
    held_out = {r["question"] for rows in zoo_splits().values() for r in rows}
    facts = train_reader(spec, fmt, Path(weights_dir) / spec.name, exclude=held_out)
    training = {"spec": asdict(spec), **facts, "threads": threads, "torch": torch.__version__}
    return measure_reader_record(
        fmt,
        weights_dir=weights_dir,
        data_dir=data_dir,
        threads=threads,
        training=training,
        extra_rankings=extra_rankings,
    )


def _experts(weights_dir: Path) -> list[tuple[str, Path, Sequence[str]]]:
    zoo = [(s.name, weights_dir / s.name, s.skills or SKILLS) for s in ZOO_SPECS]
    return [*zoo, (READER_SPEC.name, weights_dir / READER_SPEC.name, ("facts",))]


def measure_reader_record(
    fmt: ZooTaskFormat,
    *,
    weights_dir: str | Path = ZOO_WEIGHTS_DIR,
    data_dir: str | Path = ZOO_DATA_DIR,
    threads: int = 1,
    training: dict[str, Any] | None = None,
    extra_rankings: dict[str, list[list[int]]] | None = None,
) -> dict[str, Any]:
    """Measure the reader and the context effect on the test split; write and return the record.

    Args:
        fmt: rendering (with ``render_passages``), extraction and scoring.
        weights_dir: where the expert folders are and the record goes.
        data_dir: where ``facts_kb.jsonl`` and ``zoo_rag_test.jsonl`` are.
        threads: torch intra-op threads.
        training: the reader's training facts; None keeps those of the existing record.
        extra_rankings: retriever name -> per-row top document indices of the test split, measured
            besides BM25.

    Returns:
        The record as written.
    """
    torch.set_num_threads(threads)
    weights, data = Path(weights_dir), Path(data_dir)
    path = weights / READER_RECORD_FILE
    if training is None and path.is_file():
        training = json.loads(path.read_text(encoding="utf-8")).get("reader")
    docs = read_rows(data / FACTS_KB_FILE.name)
    rows = read_rows(rag_split_path("test", data))
    rankings = {"bm25": bm25_rankings(docs, rows, RANK_DEPTH), **(extra_rankings or {})}
    reader_dir = weights / READER_SPEC.name
    record: dict[str, Any] = {
        "version": READER_RECORD_VERSION,
        "split": {"file": rag_split_path("test", data).name, "n": len(rows)},
        "knowledge_base": {"file": FACTS_KB_FILE.name, "documents": len(docs)},
        "reader": training,
        "reader_accuracy": reader_accuracy(READER_SPEC.name, reader_dir, rows, docs, rankings, fmt),
        "context_effect": context_effect(_experts(weights), rows, docs, rankings["bm25"], fmt),
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("zoo: wrote %s", path)
    return record
