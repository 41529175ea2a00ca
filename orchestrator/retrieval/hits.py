"""What a search returns: hits with their per-retriever scores, the gate's coverage signal, and RRF fusion.

Example::

    (result,) = store.retrieve(["Who founded Velmora?"], k=5, mode="hybrid")
    result.hits[0].fused_score, result.hits[0].bm25_score, result.hits[0].dense_score
    result.coverage.top_dense, result.coverage.dense_margin   # how well the store covers the query
    passages = [h.to_passage() for h in result.hits]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from common.records import Passage


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One retrieved chunk.

    Attributes:
        id: the chunk id (stable for a given file content).
        source: where the text comes from (a file path, ``path#row-id``, or a JSONL row's ``source``).
        title: the document's title, when it has one.
        text: the chunk's text.
        origin: the ingested file or dataset the chunk belongs to (the unit of re-ingestion).
        doc_id: the document inside ``origin`` (its path, or a JSONL/dataset row id).
        start: the chunk's first character in its document.
        end: one past its last character.
        dense_score: cosine similarity of query and chunk embeddings (None when not computed).
        bm25_score: the BM25 score (None when the chunk was not among the BM25 hits).
        fused_score: the reciprocal-rank-fusion score (hybrid mode only).
        rerank_score: the cross-encoder's score (when a reranker ran).
    """

    id: str
    source: str
    title: str | None
    text: str
    origin: str
    doc_id: str
    start: int
    end: int
    dense_score: float | None = None
    bm25_score: float | None = None
    fused_score: float | None = None
    rerank_score: float | None = None

    @property
    def score(self) -> float:
        """The score the hit was ranked by: reranked, else fused, else dense, else BM25."""
        for value in (self.rerank_score, self.fused_score, self.dense_score, self.bm25_score):
            if value is not None:
                return value
        return 0.0

    def to_passage(self) -> Passage:
        """The hit as the :class:`~common.records.Passage` experts see and traces record."""
        return Passage(id=self.id, source=self.source, text=self.text, title=self.title, score=self.score)


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """How well the store seems to cover one query, from the raw (unfused) retriever lists.

    A high top score with a clear margin over the runner-up suggests one chunk answers the query; a
    low or flat list suggests the store knows nothing specific. BM25 scores are unnormalised (they
    grow with query length and term rarity); dense scores are cosine similarities in [-1, 1].

    Attributes:
        top_dense: the best dense score (None when dense retrieval did not run or found nothing).
        top_bm25: the best BM25 score (None when BM25 did not run or matched nothing).
        dense_margin: best minus second-best dense score (None with fewer than two dense hits).
        bm25_margin: best minus second-best BM25 score (None with fewer than two BM25 hits).
    """

    top_dense: float | None = None
    top_bm25: float | None = None
    dense_margin: float | None = None
    bm25_margin: float | None = None


@dataclass(frozen=True)
class Retrieval:
    """The hits for one query, best first, with the coverage signal."""

    query: str
    hits: tuple[Hit, ...]
    coverage: Coverage

    def passages(self) -> list[Passage]:
        """The hits as :class:`~common.records.Passage` s."""
        return [h.to_passage() for h in self.hits]


def coverage_of(dense: Sequence[Hit] | None, bm25: Sequence[Hit] | None) -> Coverage:
    """The coverage signal of ranked dense and BM25 lists (None for a retriever that did not run)."""
    d = [h.dense_score for h in dense or () if h.dense_score is not None]
    b = [h.bm25_score for h in bm25 or () if h.bm25_score is not None]
    return Coverage(
        top_dense=d[0] if d else None,
        top_bm25=b[0] if b else None,
        dense_margin=d[0] - d[1] if len(d) > 1 else None,
        bm25_margin=b[0] - b[1] if len(b) > 1 else None,
    )


def rrf_fuse(dense: Sequence[Hit], bm25: Sequence[Hit], *, k: int, rrf_k: int) -> list[Hit]:
    """Reciprocal rank fusion of two ranked lists: ``fused = sum over lists of 1 / (rrf_k + rank)``.

    A chunk in both lists keeps both scores. Ties break by dense score, then chunk id, so the order is
    deterministic.

    Args:
        dense: dense hits, best first.
        bm25: BM25 hits, best first.
        k: how many fused hits to keep.
        rrf_k: the fusion constant (60 in the RRF paper).

    Returns:
        The ``k`` best hits with ``fused_score`` set.
    """
    fused: dict[str, float] = {}
    merged: dict[str, Hit] = {}
    for ranked in (dense, bm25):
        for rank, hit in enumerate(ranked, start=1):
            fused[hit.id] = fused.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
            seen = merged.get(hit.id)
            if seen is None:
                merged[hit.id] = hit
            else:  # keep every score either list has
                merged[hit.id] = replace(
                    seen,
                    dense_score=seen.dense_score if seen.dense_score is not None else hit.dense_score,
                    bm25_score=seen.bm25_score if seen.bm25_score is not None else hit.bm25_score,
                )
    order = sorted(fused, key=lambda i: (-fused[i], -(merged[i].dense_score or 0.0), i))
    return [replace(merged[i], fused_score=fused[i]) for i in order[:k]]


def collapse_documents(hits: Sequence[Hit]) -> list[Hit]:
    """Each document's best-ranked chunk, in rank order (a document is its origin and doc id)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for hit in hits:
        key = (hit.origin, hit.doc_id)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out
