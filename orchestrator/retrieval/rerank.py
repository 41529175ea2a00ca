"""An optional second stage of search: a cross-encoder scores (query, passage) pairs and reorders the hits.

The model is a local sentence-transformers ``CrossEncoder`` folder: nothing is downloaded (the store
never reaches the network). No cross-encoder ships in a Python package, so the project trains a small
one itself for its tests (:func:`train_cross_encoder`, from the packaged all-MiniLM-L6-v2 and a few
hundred pairs) and a user points ``reranker:`` at a folder of their own, for instance a copy of
``cross-encoder/ms-marco-MiniLM-L6-v2`` (see docs/knowledge-store.md).

Example::

    reranker = CrossEncoderReranker("/models/ms-marco-MiniLM-L6-v2")
    hits = reranker.rerank("Who founded Velmora?", hits)   # best first, rerank_score set
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.settings import expand_path
from orchestrator.retrieval.hits import Hit

logger = logging.getLogger(__name__)

MAX_PASSAGE_CHARS = 2000
"""Characters of a passage the cross-encoder reads (its window is 512 word pieces)."""


def passage_text(hit: Hit) -> str:
    """What the cross-encoder reads of a hit: its title (when any) and text."""
    text = f"{hit.title}\n{hit.text}" if hit.title else hit.text
    return text[:MAX_PASSAGE_CHARS]


class CrossEncoderReranker:
    """Reorders hits by a sentence-transformers ``CrossEncoder`` loaded from a local folder.

    Args:
        path: the model folder (``~`` and ``$SYMOE_HOME`` expanded).
        batch_size: pairs per forward pass.

    Raises:
        ConfigError: the folder does not exist or holds no loadable cross-encoder.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 32) -> None:
        folder = expand_path(path)
        if not folder.is_dir():
            raise ConfigError(
                f"reranker: no model folder at {folder}; point `reranker` at a local CrossEncoder folder "
                "(nothing is downloaded)"
            )
        from batching.engines.cpu_threads import passive_openmp

        passive_openmp()
        from sentence_transformers import CrossEncoder

        start = time.perf_counter()
        try:
            self.model: Any = CrossEncoder(str(folder), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"reranker: cannot load a CrossEncoder from {folder} ({exc})") from exc
        self.path = str(folder)
        self.batch_size = batch_size
        logger.info("reranker %s loaded in %.1fs", folder, time.perf_counter() - start)

    def scores(self, query: str, passages: Sequence[str]) -> list[float]:
        """The cross-encoder's score of each (query, passage) pair."""
        if not passages:
            return []
        out = self.model.predict(
            [(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False
        )
        return [float(x) for x in out]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` reordered by score (ties keep their order), each with ``rerank_score`` set."""
        scored = self.scores(query, [passage_text(h) for h in hits])
        order = sorted(range(len(hits)), key=lambda i: (-scored[i], i))
        return [replace(hits[i], rerank_score=scored[i]) for i in order]


def train_cross_encoder(
    pairs: Sequence[tuple[str, str, float]],
    out_dir: str | Path,
    *,
    base_model: str | None = None,
    epochs: int = 1,
    batch_size: int = 16,
    seed: int = 0,
) -> Path:
    """Fine-tune a cross-encoder on (query, passage, label in [0, 1]) pairs and save it to ``out_dir``.

    Starts from ``base_model`` (the packaged all-MiniLM-L6-v2 when None: a BERT encoder whose
    tokenizer and weights are on disk) with a fresh one-logit head, so it runs offline.

    Returns:
        ``out_dir``, loadable by :class:`CrossEncoderReranker`.
    """
    from batching.engines.cpu_threads import passive_openmp

    passive_openmp()
    import torch
    from sentence_transformers import CrossEncoder

    from skills.embedding import default_model_path

    torch.manual_seed(seed)
    model = CrossEncoder(
        base_model or default_model_path(), num_labels=1, device="cpu", local_files_only=True
    )
    tokenizer, net = model.tokenizer, model.model
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=5e-5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            part = [pairs[i] for i in order[start : start + batch_size]]
            enc = tokenizer(
                [q for q, _, _ in part],
                [p for _, p, _ in part],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            logits = net(**enc).logits.view(-1)
            loss = loss_fn(logits, torch.tensor([y for _, _, y in part], dtype=torch.float32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    out = Path(out_dir)
    model.save(str(out))
    return out
