"""math-verify verdicts kept across bench runs, and computed up front on every core when cold.

Grouping MATH-500's answers into equivalence classes compares about 14,000 answer pairs; symbolic
comparison takes up to a tenth of a second each on a loaded CPU, minutes in all. Three things make a
cold run short:

- :func:`orchestrator.answers.trivial_verdict` settles pairs that need no parsing (equal strings after
  normalisation, two different integers or fractions) before math-verify is imported;
- :func:`precompute_verdicts` collects every pair the bench will ask about (each answer against the
  gold, each two distinct answers of a question both ways) once the expert answers are known, and
  verifies the rest in worker processes, one question's pairs per task, so each worker parses a
  question's strings once (math-verify's parse is memoised per process);
- the verdicts (``pred``, ``gold``, equal?) are saved as JSON beside the embedding cache and seeded into
  :func:`orchestrator.answers.math_equal`'s memo on the next run. Only answer strings are stored.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from common.settings import expand_path
from orchestrator.answers import math_equal, math_verdicts, remember_math_verdicts, trivial_verdict
from orchestrator.bench.stages import AnswerMatrix

PredGold = tuple[str, str]  # (pred, gold) as math_equal takes them

logger = logging.getLogger(__name__)

DEFAULT_DIR = "$SYMOE_HOME/math-verify"


def verdict_file(cache_dir: str | Path | None) -> Path:
    """The cache file (per math-verify version, since its verdicts may change between versions)."""
    try:
        tag = version("math-verify")
    except PackageNotFoundError:
        tag = "unknown"
    return expand_path(cache_dir or DEFAULT_DIR) / f"verdicts-{tag}.json"


@contextmanager
def persistent_verdicts(path: Path | None) -> Iterator[None]:
    """Seed the memo from ``path`` (when it exists), and save it there afterwards if it grew.

    None: nothing is read or written.
    """
    if path is None:
        yield
        return
    known = 0
    if path.is_file():
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
            remember_math_verdicts({(a, b): bool(v) for a, b, v in rows})
            known = len(rows)
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("math-verify cache %s unreadable (%s); starting cold", path, exc)
    try:
        yield
    finally:
        now = math_verdicts()
        if len(now) > known:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([[a, b, v] for (a, b), v in now.items()]), encoding="utf-8")
            tmp.replace(path)
            logger.info("math-verify cache: %d verdicts saved to %s", len(now), path)


def question_pairs(gold: str | None, answers: Iterable[str | None]) -> list[PredGold]:
    """Every pair a bench compares for one question: each answer against the gold, and each two distinct
    answers both ways (votes group answers into classes with :func:`~orchestrator.answers.math_equivalent`).
    """
    distinct = list(dict.fromkeys(a for a in answers if a is not None and a.strip()))
    pairs = [(a, gold) for a in distinct] if gold and gold.strip() else []
    pairs += [(a, b) for a in distinct for b in distinct if a != b]
    return pairs


def matrix_pairs(matrix: AnswerMatrix) -> list[list[PredGold]]:
    """:func:`question_pairs` of every question of an answer matrix (parsed and recorded answers)."""
    groups = []
    for inst in matrix.instances:
        keys = [(inst.id, e) for e in matrix.experts]
        answers = [matrix.answers.get(k) for k in keys] + [matrix.recorded.get(k) for k in keys]
        groups.append(question_pairs(inst.gold, answers))
    return groups


def _verdicts_of(pairs: Sequence[PredGold]) -> list[bool]:
    """Worker task: one question's pairs (so its strings are parsed once in this process)."""
    return [math_equal(a, b) for a, b in pairs]


def precompute_verdicts(
    groups: Sequence[Sequence[PredGold]],
    workers: int,
    *,
    min_parallel: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Verify every pair not decided yet, ``workers`` processes at a time, and seed the memo.

    Pairs already in the memo (a warm run) or settled by :func:`~orchestrator.answers.trivial_verdict`
    never reach a worker. Fewer than ``min_parallel`` remaining pairs are verified in this process
    (starting workers would cost more).

    Args:
        groups: the pairs of each question (:func:`question_pairs`).
        workers: processes to use (1: this process only).
        on_progress: called with (pairs verified, pairs to verify) as questions finish (a cold run of
            MATH-500 verifies for minutes).

    Returns:
        How many pairs math-verify decided now.
    """
    known = math_verdicts()
    todo: list[list[PredGold]] = []
    settled: dict[PredGold, bool] = {}
    pending: set[PredGold] = set()
    for group in groups:
        rest = []
        for pair in dict.fromkeys(group):
            if pair in known or pair in settled or pair in pending:
                continue
            trivial = trivial_verdict(*pair)
            if trivial is None:
                rest.append(pair)
                pending.add(pair)
            else:
                settled[pair] = trivial
        if rest:
            todo.append(rest)
    remember_math_verdicts(settled)
    n = sum(len(g) for g in todo)
    if not n:
        return 0
    start = time.perf_counter()
    results: list[list[bool]] = []

    def collect(verdicts: Iterable[list[bool]]) -> None:
        done = 0
        for verdict in verdicts:
            results.append(verdict)
            done += len(verdict)
            if on_progress is not None:
                on_progress(done, n)

    if workers <= 1 or n < min_parallel:
        collect(_verdicts_of(g) for g in todo)
    else:
        todo.sort(key=len, reverse=True)  # long tasks first, so no worker is left with one at the end
        # spawn: the bench process may hold threads (ONNX Runtime, torch) that fork would copy mid-state
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            collect(pool.map(_verdicts_of, todo, chunksize=max(1, len(todo) // (8 * workers))))
    remember_math_verdicts(
        {p: v for g, r in zip(todo, results, strict=True) for p, v in zip(g, r, strict=True)}
    )
    logger.info(
        "math-verify: %d pairs settled without parsing, %d verified on %d processes in %.1fs",
        len(settled),
        n,
        workers if n >= min_parallel else 1,
        time.perf_counter() - start,
    )
    return n
