"""The retrieval test bed's files: the facts knowledge base and the zoo splits with facts questions.

``facts_kb.jsonl`` is the committed knowledge base (:func:`zoo.facts.generate_kb` with its seed), one
``{"id", "title", "text", "source"}`` row per document, ready for ``symoe kb add``.
``zoo_rag_{validation,test}.jsonl`` are the zoo's validation and test splits unchanged (the same rows
as ``zoo_{validation,test}.jsonl``) followed by 30% ``facts`` questions, each about a different entity;
validation and test ask about disjoint entities. A facts row is a zoo row (``category: facts``,
``kind: math``) plus ``doc``, the id of the one document that answers it, for measuring retrieval.

Example::

    splits = zoo_rag_splits()        # {"validation": [400 rows], "test": [1000 rows]}
    write_rag_files()                # regenerate the committed files (identical bytes)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from zoo.facts import FACTS_KB_SEED, FACTS_KB_SIZE, FactsEntity, facts_question, generate_kb, kb_rows
from zoo.tasks import SPLIT_SEEDS, ZOO_DATA_DIR, write_rows, zoo_splits

__all__ = [
    "FACTS_KB_FILE",
    "FACTS_PER_SPLIT",
    "facts_split",
    "rag_split_path",
    "write_rag_files",
    "zoo_rag_splits",
]

FACTS_KB_FILE = ZOO_DATA_DIR / "facts_kb.jsonl"
"""The committed knowledge base."""

FACTS_PER_SPLIT: dict[str, int] = {"validation": 120, "test": 300}
"""Facts questions per split: 30% of each (the zoo splits hold 280 and 700 other questions)."""


def rag_split_path(name: str, data_dir: str | Path = ZOO_DATA_DIR) -> Path:
    """Where split ``name`` (``validation`` or ``test``) of the retrieval test bed lives."""
    return Path(data_dir) / f"zoo_rag_{name}.jsonl"


def _facts_row(entity: FactsEntity, rng: random.Random, row_id: str) -> dict[str, Any]:
    q = facts_question(entity, rng)
    return {
        "id": row_id,
        "question": q.question,
        "answer": q.answer,
        "category": "facts",
        "kind": "math",
        "doc": entity.doc_id,
    }


def facts_split(kb: list[FactsEntity] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The facts rows of each split: one question per entity, entities disjoint across splits.

    Entities are drawn by a seeded shuffle of the knowledge base; each split's questions (attribute and
    template) come from a generator seeded with the split's seed, so row ids follow the zoo pattern
    ``s{seed}-facts-{i:04d}``.

    Args:
        kb: the knowledge base (the committed one when None).

    Returns:
        ``{"validation": rows, "test": rows}`` in :data:`FACTS_PER_SPLIT` sizes.
    """
    entities = kb if kb is not None else generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE)
    order = list(range(len(entities)))
    random.Random(f"facts-splits-{FACTS_KB_SEED}").shuffle(order)
    out: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name, n in FACTS_PER_SPLIT.items():
        seed = SPLIT_SEEDS[name][0]
        rng = random.Random(f"{seed}-facts")
        chosen = order[start : start + n]
        out[name] = [_facts_row(entities[j], rng, f"s{seed}-facts-{i:04d}") for i, j in enumerate(chosen)]
        start += n
    return out


def zoo_rag_splits(kb: list[FactsEntity] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each split: the zoo split's rows unchanged, then its facts rows (see :func:`facts_split`)."""
    zoo, facts = zoo_splits(), facts_split(kb)
    return {name: zoo[name] + facts[name] for name in FACTS_PER_SPLIT}


def write_rag_files(data_dir: str | Path = ZOO_DATA_DIR) -> dict[str, Path]:
    """Write ``facts_kb.jsonl`` and ``zoo_rag_{validation,test}.jsonl`` to ``data_dir``.

    Returns:
        ``{"kb": path, "validation": path, "test": path}``.
    """
    kb = generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE)
    paths = {"kb": write_rows(kb_rows(kb), Path(data_dir) / FACTS_KB_FILE.name)}
    for name, rows in zoo_rag_splits(kb).items():
        paths[name] = write_rows(rows, rag_split_path(name, data_dir))
    return paths
