"""BM25 ranking of short documents (``bm25s``): the zoo reader's retrieval noise and its measurement.

The reader expert is trained and measured on what a retriever returns for a question: the right
document, usually first, among others that share words with it (another bridge, a person born in the
town asked about). :class:`BM25Index` gives that ranking over the knowledge base (``zoo.facts``) or the
larger seeded one reader training draws from, with ``bm25s`` (Okapi BM25, English stopwords). The
project's knowledge store is separate (LanceDB); this only shapes and measures the reader's data.

Example::

    index = BM25Index([f"{d['title']}. {d['text']}" for d in docs])
    index.top_k("In which year was the Veltrin Bridge opened?", k=3)   # [(doc index, score), ...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

__all__ = ["BM25Index"]


def _bm25s() -> Any:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
    return bm25s


class BM25Index:
    """Okapi BM25 (``k1``, ``b``) over a fixed list of documents.

    Args:
        docs: document texts; results refer to them by position.
        k1: term-frequency saturation.
        b: length normalisation.
    """

    def __init__(self, docs: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self._lib = _bm25s()
        self._n = len(docs)
        self._index = self._lib.BM25(k1=k1, b=b)
        self._index.index(self._tokens(docs), show_progress=False)

    def _tokens(self, texts: Sequence[str]) -> Any:
        return self._lib.tokenize(list(texts), stopwords="en", show_progress=False)

    def __len__(self) -> int:
        return self._n

    def top_k(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best documents sharing a term with ``query`` as ``(index, score)``, best first."""
        return self.top_k_many([query], k)[0]

    def top_k_many(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """:meth:`top_k` of every query, in one batched retrieval."""
        docs, scores = self._index.retrieve(self._tokens(queries), k=min(k, self._n), show_progress=False)
        return [
            [(int(d), float(s)) for d, s in zip(row_d, row_s, strict=True) if s > 0]
            for row_d, row_s in zip(docs, scores, strict=True)
        ]
