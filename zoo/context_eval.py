"""What passages in the prompt do to zoo experts: the reader with and without them, the others with noise.

The retrieval test bed rests on three measured facts, recorded in ``weights/reader_record.json``:
the reader answers facts questions from retrieved passages and not without them; no expert can answer
them otherwise; and experts never trained with a ``Context:`` block may lose accuracy on their own skills
when a retriever prepends irrelevant passages (why retrieval is gated). Every figure is greedy
generation through the real :class:`~batching.engines.hf_engine.TransformersEngine`
(:func:`zoo.train.evaluate_prompts`).

Passages come from a ranking of the knowledge base per question (``rankings``: name -> per-row document
indices, best first), computed by the caller: the BM25 of :mod:`zoo.bm25`, or a dense retriever.
Rankings shorter than ``k`` are filled with seeded random documents, as a dense store always returns
``k``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.train import ZooTaskFormat, evaluate_prompts

logger = logging.getLogger(__name__)

__all__ = ["CONTEXT_K", "RANK_DEPTH", "bm25_rankings", "context_effect", "reader_accuracy", "recall_at"]

CONTEXT_K = 1
"""Passages per prompt in the retrieval conditions (the zoo-rag pool's ``k``: the store's top hit)."""

RANK_DEPTH = 3
"""Documents each ranking keeps (recall@1 and @3, the distractors of ``gold_rank3``)."""

READER_MAX_TOKENS = 48
"""Greedy budget of the reader: a long name in ``\\text{}`` is about 30 of its tokens."""


def bm25_rankings(docs: Sequence[dict[str, str]], rows: Sequence[dict[str, Any]], k: int) -> list[list[int]]:
    """BM25 (:mod:`zoo.bm25`) top-``k`` document indices per row's question."""
    from zoo.reader_data import retrieval_index

    index = retrieval_index(docs)
    return [[j for j, _ in index.top_k(str(r["question"]), k)] for r in rows]


def _fill(ranking: Sequence[int], n_docs: int, k: int, rng: random.Random) -> list[int]:
    out = list(ranking[:k])
    while len(out) < k:
        j = rng.randrange(n_docs)
        if j not in out:
            out.append(j)
    return out


def passages_for(
    docs: Sequence[dict[str, str]], rankings: Sequence[Sequence[int]], k: int = CONTEXT_K, seed: int = 0
) -> list[list[dict[str, str]]]:
    """The top-``k`` documents of each ranking, filled to ``k`` with seeded random documents."""
    rng = random.Random(f"context-fill-{seed}")
    return [[docs[j] for j in _fill(r, len(docs), k, rng)] for r in rankings]


def recall_at(
    rows: Sequence[dict[str, Any]], docs: Sequence[dict[str, str]], rankings: Sequence[Sequence[int]], k: int
) -> float:
    """Share of facts rows whose answering document (``doc``) is in the ranking's top ``k``."""
    ids = [[docs[j]["id"] for j in r[:k]] for r in rankings]
    hits = [row["doc"] in top for row, top in zip(rows, ids, strict=True)]
    return round(sum(hits) / max(1, len(hits)), 4)


def _accuracy(
    name: str,
    model_dir: Path,
    rows: Sequence[dict[str, Any]],
    passages: Sequence[Sequence[dict[str, str]]],
    fmt: ZooTaskFormat,
    max_tokens: int,
) -> dict[str, Any]:
    prompts = [fmt.prompt(r, ps) for r, ps in zip(rows, passages, strict=True)]
    result = evaluate_prompts(name, model_dir, rows, prompts, fmt, max_tokens=max_tokens)
    return {"per_skill": result["per_skill"], "overall": result["overall"], "n": result["n"]}


def reader_accuracy(
    name: str,
    model_dir: Path,
    rows: Sequence[dict[str, Any]],
    docs: Sequence[dict[str, str]],
    rankings: dict[str, list[list[int]]],
    fmt: ZooTaskFormat,
) -> dict[str, Any]:
    """The reader's accuracy under each passage condition.

    Args:
        name: expert name.
        model_dir: its folder.
        rows: test rows (facts rows carry ``doc``; the others are zoo skills).
        docs: the knowledge base's rows.
        rankings: retriever name -> per-row top document indices.
        fmt: prompt rendering (with ``render_passages``) and scoring.

    Returns:
        ``facts`` (``gold`` passage alone, ``gold_rank3`` behind two BM25 distractors, ``none``, and
        ``top<CONTEXT_K>_<retriever>`` for each ranking with its recall@1 and @3) and ``skills`` (the zoo
        skills without passages and with each retriever's top ``CONTEXT_K``).
    """
    by_id = {d["id"]: i for i, d in enumerate(docs)}
    facts = [(i, r) for i, r in enumerate(rows) if r["category"] == "facts"]
    skills = [(i, r) for i, r in enumerate(rows) if r["category"] != "facts"]
    f_rows = [r for _, r in facts]
    s_rows = [r for _, r in skills]

    def run(rows_: Sequence[dict[str, Any]], passages: Sequence[Sequence[dict[str, str]]]) -> dict[str, Any]:
        return _accuracy(name, model_dir, rows_, passages, fmt, READER_MAX_TOKENS)

    out: dict[str, Any] = {"facts": {}, "skills": {}}
    out["facts"]["gold"] = run(f_rows, [[docs[by_id[r["doc"]]]] for r in f_rows])
    out["facts"]["none"] = run(f_rows, [[] for _ in f_rows])
    first = next(iter(rankings.values()))
    behind = [
        [*[docs[j] for j in first[i] if j != by_id[r["doc"]]][:2], docs[by_id[r["doc"]]]] for i, r in facts
    ]
    out["facts"]["gold_rank3"] = run(f_rows, behind)
    out["skills"]["none"] = run(s_rows, [[] for _ in s_rows])
    for retriever, ranking in rankings.items():
        f_rank = [ranking[i] for i, _ in facts]
        entry = run(f_rows, passages_for(docs, f_rank))
        entry["recall_at_1"] = recall_at(f_rows, docs, f_rank, 1)
        entry["recall_at_3"] = recall_at(f_rows, docs, f_rank, 3)
        out["facts"][f"top{CONTEXT_K}_{retriever}"] = entry
        out["skills"][f"top{CONTEXT_K}_{retriever}"] = run(
            s_rows, passages_for(docs, [ranking[i] for i, _ in skills])
        )
    logger.info("zoo: %s facts accuracy %s", name, {c: v["overall"] for c, v in out["facts"].items()})
    return out


def context_effect(
    experts: Sequence[tuple[str, Path, Sequence[str]]],
    rows: Sequence[dict[str, Any]],
    docs: Sequence[dict[str, str]],
    ranking: Sequence[Sequence[int]],
    fmt: ZooTaskFormat,
    max_tokens: int = 32,
) -> dict[str, Any]:
    """Each expert's accuracy per skill without passages and with the top ``CONTEXT_K`` (irrelevant) ones.

    Args:
        experts: ``(name, model folder, own skills)``; an empty skill list means every skill.
        rows: zoo-skill rows (no facts).
        docs: the knowledge base's rows.
        ranking: per-row top document indices (what an always-retrieve run would prepend).
        fmt: rendering and scoring.
        max_tokens: greedy budget (the zoo experts' 32).

    Returns:
        ``expert -> {"none", "top<CONTEXT_K>"} -> {"per_skill", "overall", "own"}`` (``own``: mean over
        own skills).
    """
    passages = passages_for(docs, ranking)
    out: dict[str, Any] = {}
    for name, model_dir, own in experts:
        out[name] = {}
        for condition, ps in (("none", [[] for _ in rows]), (f"top{CONTEXT_K}", passages)):
            acc = _accuracy(name, model_dir, rows, ps, fmt, max_tokens)
            skills = list(own) or list(acc["per_skill"])
            acc["own"] = round(sum(acc["per_skill"][s] for s in skills) / len(skills), 4)
            out[name][condition] = acc
        logger.info(
            "zoo: %s own-skill accuracy %.3f without passages, %.3f with irrelevant top-%d",
            name,
            out[name]["none"]["own"],
            out[name][f"top{CONTEXT_K}"]["own"],
            CONTEXT_K,
        )
    return out
