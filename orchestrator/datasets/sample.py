"""A seeded sample of questions that keeps every category's share (``symoe run --sample N``).

Taking the first N rows of a file sorted by category tests one skill; this draws from every category in
proportion to its size (largest remainder), seeded, and keeps the file's order among the chosen rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from common.records import Instance


def stratified_sample(instances: Sequence[Instance], n: int, *, seed: int = 0) -> list[Instance]:
    """``n`` questions drawn per category in proportion to its size (all of them when ``n`` is larger).

    Categories are ``Instance.category`` (``None`` is one category of its own); a category gets
    ``floor(n * size / total)`` questions, and the remaining ones go to the largest remainders. The result is
    in file order, and the same ``seed`` gives the same sample.
    """
    if n >= len(instances):
        return list(instances)
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, inst in enumerate(instances):
        groups[inst.category].append(i)
    names = sorted(groups, key=lambda c: (c is None, str(c)))
    exact = np.array([n * len(groups[c]) / len(instances) for c in names])
    counts = np.floor(exact).astype(int)
    for j in np.argsort(-(exact - counts), kind="stable")[: n - int(counts.sum())]:
        counts[j] += 1
    rng = np.random.default_rng(seed)
    chosen = [int(i) for c, k in zip(names, counts, strict=True) for i in rng.permutation(groups[c])[:k]]
    return [instances[i] for i in sorted(chosen)]
