"""The gate's harder test bed: facts questions of which the experts know some answers and not others.

In the retrieval test bed (:mod:`zoo.rag_splits`) no expert knows any facts entity, so the question's
skill alone tells the gate to retrieve. Here the recall expert (:mod:`zoo.recall`) learnt the facts of
*known* entities in training, closed-book, and also learnt to read passages; the split asks, in equal
numbers, about known entities (answerable from the expert's own weights) and about *unknown* ones
(answerable only with the entity's document). Every question is of one kind (``facts``) and reads
alike, so neither its skill nor its embedding tells the two apart: a gate that retrieves for fewer than
all of them must read something the experts do, such as whether their answers agree.

All entities come from the committed knowledge base (``facts_kb.jsonl``, so the store holds every
answer), after the ones :mod:`zoo.rag_splits` asks about. ``zoo_recall_{validation,test}.jsonl`` hold
facts rows (as in :mod:`zoo.rag_splits`) plus ``known``: whether the recall expert was trained on the
entity's facts. Validation and test ask about disjoint entities.

Example::

    known = known_entities()                 # the entities the recall expert learns
    splits = recall_splits()                 # {"validation": [160 rows], "test": [240 rows]}
    write_recall_files()                     # regenerate the committed files (identical bytes)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from zoo.facts import FACTS_KB_SEED, FACTS_KB_SIZE, FactsEntity, facts_question, generate_kb
from zoo.rag_splits import FACTS_PER_SPLIT
from zoo.tasks import SPLIT_SEEDS, ZOO_DATA_DIR, write_rows

__all__ = [
    "RECALL_PER_SPLIT",
    "known_entities",
    "recall_split_path",
    "recall_splits",
    "write_recall_files",
]

RECALL_PER_SPLIT: dict[str, int] = {"validation": 80, "test": 120}
"""Known entities asked about per split; as many unknown ones (160 and 240 questions)."""


def recall_split_path(name: str, data_dir: str | Path = ZOO_DATA_DIR) -> Path:
    """Where split ``name`` (``validation`` or ``test``) of the recall test bed lives."""
    return Path(data_dir) / f"zoo_recall_{name}.jsonl"


def _order(kb: list[FactsEntity]) -> list[int]:
    """The knowledge base's entities in :mod:`zoo.rag_splits`' seeded order, its splits' entities removed."""
    order = list(range(len(kb)))
    random.Random(f"facts-splits-{FACTS_KB_SEED}").shuffle(order)
    return order[sum(FACTS_PER_SPLIT.values()) :]


def _groups(kb: list[FactsEntity]) -> dict[str, dict[str, list[FactsEntity]]]:
    """Per split, its known and unknown entities (known ones first in the order, then unknown)."""
    order = _order(kb)
    n_known = sum(RECALL_PER_SPLIT.values())
    known, unknown = order[:n_known], order[n_known : 2 * n_known]
    out: dict[str, dict[str, list[FactsEntity]]] = {}
    start = 0
    for name, n in RECALL_PER_SPLIT.items():
        out[name] = {
            "known": [kb[j] for j in known[start : start + n]],
            "unknown": [kb[j] for j in unknown[start : start + n]],
        }
        start += n
    return out


def known_entities(kb: list[FactsEntity] | None = None) -> list[FactsEntity]:
    """Every entity the recall expert learns the facts of (the known entities of both splits)."""
    groups = _groups(kb if kb is not None else generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE))
    return [e for split in groups.values() for e in split["known"]]


def recall_splits(kb: list[FactsEntity] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each split's rows: one question per entity, known and unknown interleaved.

    Row ids follow the zoo pattern ``s{seed}-recall-{i:04d}``; each row names its ``doc`` and whether it
    is ``known``.
    """
    groups = _groups(kb if kb is not None else generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE))
    out: dict[str, list[dict[str, Any]]] = {}
    for name, split in groups.items():
        seed = SPLIT_SEEDS[name][0]
        rng = random.Random(f"{seed}-recall")
        pairs = [(e, known) for k, u in zip(split["known"], split["unknown"], strict=True)
                 for e, known in ((k, True), (u, False))]  # fmt: skip
        rows = []
        for i, (entity, known) in enumerate(pairs):
            q = facts_question(entity, rng)
            rows.append({
                "id": f"s{seed}-recall-{i:04d}", "question": q.question, "answer": q.answer,
                "category": "facts", "kind": "math", "doc": entity.doc_id, "known": known,
            })  # fmt: skip
        out[name] = rows
    return out


def write_recall_files(data_dir: str | Path = ZOO_DATA_DIR) -> dict[str, Path]:
    """Write ``zoo_recall_{validation,test}.jsonl`` to ``data_dir``; returns ``{split: path}``."""
    splits = recall_splits()
    return {name: write_rows(rows, recall_split_path(name, data_dir)) for name, rows in splits.items()}
