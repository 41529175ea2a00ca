"""Nearest neighbours by cosine similarity over unit-norm embedding matrices, computed in chunks."""

from __future__ import annotations

import numpy as np

_CHUNK_ROWS = 1024  # 1024 x 12k float32 similarities is ~50 MB; keeps 12k x 12k searches bounded


def top_k_cosine(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar keys of each query.

    Args:
        queries: ``(n, d)`` unit-norm rows.
        keys: ``(m, d)`` unit-norm rows.
        k: neighbours per query; clipped to ``m``.

    Returns:
        ``(indices, similarities)``, both ``(n, min(k, m))``, most similar first (ties by lower index).
    """
    n, m = queries.shape[0], keys.shape[0]
    k = min(k, m)
    idx = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    if k <= 0 or n == 0:
        return idx, sims
    for start in range(0, n, _CHUNK_ROWS):
        block = queries[start : start + _CHUNK_ROWS] @ keys.T
        if k < m:
            part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(m), block.shape).copy()
        part_sims = np.take_along_axis(block, part, axis=1)
        # Sort by similarity, then index, so equal scores come out in a stable order.
        order = np.lexsort((part, -part_sims), axis=1)
        idx[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        sims[start : start + len(block)] = np.take_along_axis(part_sims, order, axis=1)
    return idx, sims
