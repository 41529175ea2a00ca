"""Loading MMLU-Pro in its official column layout into ``Instance`` records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.errors import DataError
from common.records import LETTERS, AnswerFormat, Instance
from orchestrator.datasets.readers import (
    SKIP_HINT,
    LoadResult,
    Row,
    describe_validation_error,
    read_numbered_rows,
)

logger = logging.getLogger(__name__)

TASK = "mmlu_pro"
REQUIRED_FIELDS = ("question_id", "question", "options", "category")
"""Fields every row needs, besides a gold answer given as ``answer`` (letter) or ``answer_index``."""


class _RowError(Exception):
    """A row problem, raised inside a row converter and turned into ``DataError`` with the place."""


def _gold_letter(row: Row) -> str:
    answer: Any = row.get("answer")
    index: Any = row.get("answer_index")
    if answer is None and index is None:
        raise _RowError("missing field 'answer' (or 'answer_index')")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise _RowError(f"'answer_index' must be an integer, got {type(index).__name__}")
    if index is not None and not 0 <= index < len(LETTERS):
        raise _RowError(f"'answer_index' {index} is outside 0..{len(LETTERS) - 1}")
    if answer is None:
        assert index is not None  # checked above: one of the two is present
        return LETTERS[index]
    if not isinstance(answer, str) or answer.strip().upper() not in LETTERS:
        raise _RowError(f"'answer' must be one letter A-J, got {answer!r:.20}")
    letter = answer.strip().upper()
    if index is not None and LETTERS[index] != letter:
        raise _RowError(f"'answer' {letter!r} disagrees with 'answer_index' {index} ({LETTERS[index]!r})")
    return letter


def mmlu_pro_instance(row: Row) -> Instance:
    """Convert one MMLU-Pro row into an ``Instance``.

    Args:
        row: a row with ``question_id``, ``question``, ``options`` (list), ``answer`` (letter) or
            ``answer_index``, ``category`` and optionally ``src``.

    Returns:
        The instance: ``id=str(question_id)``, ``task="mmlu_pro"``, a multiple-choice format with
        ``n_options=len(options)`` (some questions have fewer than ten), ``metadata={"src": ...}``.

    Raises:
        DataError: a field is missing or invalid (no file or line; loaders add them).
    """
    try:
        missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
        if missing:
            raise _RowError(f"missing field(s) {', '.join(repr(m) for m in missing)}")
        options = row["options"]
        if not isinstance(options, list):
            raise _RowError(f"'options' must be a list, got {type(options).__name__}")
        gold = _gold_letter(row)
        src = row.get("src")
        instance = Instance(
            id=str(row["question_id"]),
            question=row["question"],
            options=options,
            gold=gold,
            task=TASK,
            category=row["category"],
            answer_format=AnswerFormat(kind="multiple_choice", n_options=len(options)),
            metadata={"src": str(src)} if src is not None else {},
        )
    except _RowError as exc:
        raise DataError(str(exc)) from None
    except ValidationError as exc:
        raise DataError(describe_validation_error(exc)) from None
    return instance


def mmlu_pro_from_rows(
    rows: Iterable[tuple[int, Row]], *, path: str, skip_malformed: bool = False, skipped: int = 0
) -> LoadResult:
    """Convert numbered MMLU-Pro rows into a ``LoadResult``.

    Args:
        rows: ``(line, row)`` pairs, as :func:`~orchestrator.datasets.readers.read_numbered_rows` gives.
        path: where the rows came from, for messages and the result.
        skip_malformed: skip and count invalid rows instead of raising.
        skipped: rows already skipped while reading, added to the count.

    Returns:
        The instances and the total number of skipped rows.

    Raises:
        DataError: (without ``skip_malformed``) a row is invalid; names the file and line.
    """
    instances: list[Instance] = []
    for line, row in rows:
        try:
            instances.append(mmlu_pro_instance(row))
        except DataError as exc:
            if not skip_malformed:
                raise DataError(f"{exc}; {SKIP_HINT}", path=path, line=line) from None
            skipped += 1
            logger.debug("%s:%d: skipped invalid MMLU-Pro row: %s", path, line, exc)
    if skipped:
        logger.warning("%s: skipped %d malformed MMLU-Pro rows", path, skipped)
    return LoadResult(instances=instances, skipped=skipped, path=path)


def load_mmlu_pro(path: str | Path, *, skip_malformed: bool = False) -> LoadResult:
    """Load MMLU-Pro from a file in the official column layout.

    Args:
        path: a JSON, JSONL (either gzipped) or Parquet file, e.g.
            ``../shared/data/mmlu_pro_recordings/questions.jsonl.gz``.
        skip_malformed: skip and count malformed or invalid rows instead of raising.

    Returns:
        The instances in file order, the number of skipped rows and the path.

    Raises:
        DataError: the file cannot be read, or (without ``skip_malformed``) a row is malformed or
            misses a required field; the message names the file and line.

    Example:
        >>> result = load_mmlu_pro("questions.jsonl.gz")  # doctest: +SKIP
        >>> result.instances[0].answer_format.n_options  # doctest: +SKIP
        9
    """
    rows, skipped = read_numbered_rows(path, skip_malformed=skip_malformed)
    result = mmlu_pro_from_rows(rows, path=str(path), skip_malformed=skip_malformed, skipped=skipped)
    logger.info("loaded %d MMLU-Pro instances from %s", len(result.instances), path)
    return result
