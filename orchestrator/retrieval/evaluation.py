"""Scoring a store against relevance judgments: BEIR/TREC inputs, nDCG@10, recall@k, MRR, latencies.

Queries come as BEIR ``queries.jsonl`` (``{"_id", "text"}``), JSONL with ``id``/``text``, TSV
``id<TAB>text`` or plain lines (ids ``q1``, ``q2``...). Judgments come as BEIR TSV (``query-id corpus-id
score`` with a header) or TREC qrels (``qid 0 docid rel``). A document is named by its doc id: a JSONL
row's ``id`` (or BEIR's ``_id``). Search counts documents (each document's best chunk), as BEIR does.

Example::

    result = evaluate(store, read_queries("q.jsonl"), read_qrels("qrels/test.tsv"), k=10, mode="hybrid")
    result.ndcg_at_10, result.recall_at_k, result.mrr, result.p50_ms
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import DataError
from common.settings import expand_path

MAX_QUERIES = 100_000
"""The most queries one file may hold."""

Qrels = dict[str, dict[str, float]]
"""query id -> doc id -> relevance grade (> 0 relevant)."""


@dataclass(frozen=True)
class Query:
    """One query of a batch."""

    id: str
    text: str


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """The scores of one search configuration over the judged queries."""

    queries: int
    k: int
    ndcg_at_10: float
    recall_at_k: float
    mrr: float
    p50_ms: float
    p99_ms: float


def _lines(path: str) -> list[str]:
    file = expand_path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {file} ({exc.strerror or exc})", path=str(file)) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{file} is not UTF-8 text (byte {exc.start})", path=str(file)) from exc
    return text.splitlines()


def read_queries(path: str) -> list[Query]:
    """Queries from a file (see the module docstring for the formats).

    Raises:
        DataError: unreadable, not UTF-8, a bad row, no query, or over :data:`MAX_QUERIES`.
    """
    out = []
    for n, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {n}: not JSON ({exc.msg})", path=path) from exc
            text = row.get("text") if isinstance(row, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path} line {n}: no non-empty 'text' field", path=path)
            qid = row.get("_id", row.get("id", f"q{n}"))
            out.append(Query(str(qid), text))
        elif "\t" in line:
            qid, _, text = line.partition("\t")
            out.append(Query(qid.strip(), text.strip()))
        else:
            out.append(Query(f"q{n}", line.strip()))
    if not out:
        raise DataError(f"{path}: no queries", path=path)
    if len(out) > MAX_QUERIES:
        raise DataError(f"{path}: {len(out):,} queries (at most {MAX_QUERIES:,})", path=path)
    return out


def read_qrels(path: str) -> Qrels:
    """Relevance judgments, BEIR TSV or TREC (see the module docstring).

    Raises:
        DataError: unreadable, a malformed line, or no relevant judgment.
    """
    out: Qrels = {}
    for n, line in enumerate(_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if n == 1 and parts and parts[0].lower() in ("query-id", "query_id", "qid"):
            continue
        if len(parts) == 3:
            qid, doc, grade = parts
        elif len(parts) == 4:
            qid, _, doc, grade = parts
        else:
            raise DataError(
                f"{path} line {n}: expected 'query doc grade' or TREC 'query 0 doc grade'", path=path
            )
        try:
            out.setdefault(qid, {})[doc] = float(grade)
        except ValueError as exc:
            raise DataError(f"{path} line {n}: grade {grade!r} is not a number", path=path) from exc
    if not any(g > 0 for docs in out.values() for g in docs.values()):
        raise DataError(f"{path}: no relevant judgment (grade > 0)", path=path)
    return out


def ndcg(ranked: Sequence[str], judged: Mapping[str, float], at: int = 10) -> float:
    """Normalised discounted cumulative gain at ``at`` (graded, linear gains, as BEIR's trec_eval)."""
    gains = [judged.get(d, 0.0) for d in ranked[:at]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:at]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: Sequence[str], judged: Mapping[str, float], at: int) -> float:
    """Share of the relevant documents found in the first ``at``."""
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant & set(ranked[:at])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], judged: Mapping[str, float]) -> float:
    """1 / the rank of the first relevant document (0 when none is ranked)."""
    for i, d in enumerate(ranked, start=1):
        if judged.get(d, 0.0) > 0:
            return 1.0 / i
    return 0.0


def evaluate(
    store: Any,
    queries: Sequence[Query],
    qrels: Qrels,
    *,
    k: int = 10,
    mode: str = "hybrid",
    where: Sequence[str] | None = None,
    rerank: bool | None = None,
) -> EvalResult:
    """Search every judged query one at a time (each timed, embedding included) and score the rankings.

    Raises:
        DataError: no query has judgments.
    """
    judged = [q for q in queries if any(g > 0 for g in qrels.get(q.id, {}).values())]
    if not judged:
        raise DataError("kb eval: no query has a relevant judgment (do the query ids match the qrels?)")
    depth = max(k, 10)
    store.retrieve([judged[0].text], k=depth, mode=mode, where=where, rerank=rerank)  # warm-up
    scores: list[tuple[float, float, float]] = []
    times = []
    for q in judged:
        start = time.perf_counter()
        (result,) = store.retrieve([q.text], k=depth, mode=mode, where=where, rerank=rerank)
        times.append((time.perf_counter() - start) * 1000)
        ranked = [h.doc_id for h in result.hits]
        rel = qrels[q.id]
        scores.append((ndcg(ranked, rel, 10), recall(ranked, rel, k), reciprocal_rank(ranked[:depth], rel)))
    arr = np.asarray(scores)
    return EvalResult(
        queries=len(judged),
        k=k,
        ndcg_at_10=float(arr[:, 0].mean()),
        recall_at_k=float(arr[:, 1].mean()),
        mrr=float(arr[:, 2].mean()),
        p50_ms=float(np.percentile(times, 50)),
        p99_ms=float(np.percentile(times, 99)),
    )


def write_beir(
    folder: Path, corpus: Sequence[Mapping[str, str]], queries: Sequence[Query], qrels: Qrels
) -> Path:
    """Write a BEIR-format collection: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d in corpus:
            fh.write(json.dumps({"_id": d["id"], "title": d.get("title", ""), "text": d["text"]}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps({"_id": q.id, "text": q.text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for doc, grade in docs.items():
                fh.write(f"{qid}\t{doc}\t{int(grade)}\n")
    return folder
