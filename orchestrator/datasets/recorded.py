"""Question files of recording sets (``<set>/questions.jsonl.gz``): multiple-choice or free-form rows.

The sets share MMLU-Pro's column layout (``question_id``, ``question``, ``options``, ``answer``,
``category``). A row with options is multiple choice (its gold a letter); a row with empty ``options`` is
free-form (MATH-500: ``answer`` is the gold LaTeX string, compared with math-verify). BIG-Bench-Hard rows
say their ``answer_type``: ``letter`` (gold ``(X)``, options parsed from the input), ``label`` and
``free`` (strings compared exactly); HumanEval rows (with an ``entry_point``) are programs scored by the
recording's verdict (``code``). Extra fields the
benches group or stratify by become instance metadata, as strings: ``src``, ``level`` (MATH difficulty
1-5), ``high_level_domain`` (GPQA's Physics / Chemistry / Biology).

GPQA's questions must never appear in plain text: errors name the file and line, never the row's text.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from common.errors import DataError
from common.records import LETTERS, AnswerFormat, Instance
from orchestrator.datasets.mmlu_pro import mmlu_pro_instance
from orchestrator.datasets.readers import LoadResult, Row, describe_validation_error, read_numbered_rows

logger = logging.getLogger(__name__)

METADATA_FIELDS = ("src", "level", "high_level_domain", "answer_type")
"""Row fields kept as instance metadata (when present)."""


def recorded_instance(row: Row, task: str) -> Instance:
    """One question row of a recording set -> an instance.

    Args:
        row: the row (MMLU-Pro layout; empty ``options`` for a free-form answer).
        task: the instance's task name (``mmlu_pro``, ``gpqa_diamond``, ``math500``...).

    Raises:
        DataError: a field is missing or invalid (without the row's text).
    """
    metadata = {k: str(row[k]) for k in METADATA_FIELDS if row.get(k) is not None}
    if row.get("options") and len(row["options"]) <= len(LETTERS):
        answer = row.get("answer")
        if isinstance(answer, str) and len(answer) == 3 and answer[0] + answer[2] == "()":
            row = {**row, "answer": answer[1]}  # BIG-Bench-Hard writes its letters "(D)"
        inst = mmlu_pro_instance(row)
        return inst.model_copy(update={"task": task, "metadata": metadata})
    missing = [k for k in ("question_id", "question", "answer", "category") if row.get(k) in (None, "")]
    if missing:
        raise DataError(f"missing field(s) {', '.join(repr(m) for m in missing)}")
    try:
        return Instance(
            id=str(row["question_id"]),
            question=row["question"],
            gold=str(row["answer"]),
            task=task,
            category=str(row["category"]),
            answer_format=AnswerFormat(kind=_free_kind(row)),
            metadata=metadata,
        )
    except ValidationError as exc:
        raise DataError(describe_validation_error(exc)) from None


def _free_kind(row: Row) -> Literal["math", "exact", "code"]:
    """A row without options: a program (it names an ``entry_point``), an exact string (BIG-Bench-Hard's
    ``label`` and ``free`` answers) or a math answer."""
    if row.get("entry_point"):
        return "code"
    if row.get("answer_type") in ("label", "free") or row.get("options"):  # options past J: strings
        return "exact"
    return "math"


def load_recorded_questions(path: str | Path, task: str) -> LoadResult:
    """Load a recording set's question file (every row must be valid).

    Raises:
        DataError: unreadable file or invalid row; names the file and line, never the text.
    """
    rows, _ = read_numbered_rows(path)
    instances = []
    for line, row in rows:
        try:
            instances.append(recorded_instance(row, task))
        except DataError as exc:
            raise DataError(str(exc), path=str(path), line=line) from None
    logger.info("loaded %d %s questions from %s", len(instances), task, path)
    return LoadResult(instances=instances, skipped=0, path=str(path))
