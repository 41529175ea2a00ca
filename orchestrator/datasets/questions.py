"""Users' question files for ``symoe run``: JSONL/JSON/Parquet rows with a question and optional options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.errors import DataError
from common.records import LETTERS, AnswerFormat, Instance
from orchestrator.datasets.readers import (
    SKIP_HINT,
    LoadResult,
    Malformed,
    iter_numbered_rows,
    malformed_error,
)


def question_instance(row: dict[str, Any], index: int, task: str = "user") -> Instance:
    """One row -> an instance.

    Accepted fields: ``question`` (required), ``options`` (list; multiple choice when present),
    ``id``/``question_id``, ``gold``/``answer``/``gold_answer``, ``category``, ``kind`` (``math`` for a
    free-form answer). Without options and kind the answer is free-form math.

    Raises:
        DataError: the row is not an object, or a field is missing or invalid.
    """
    if not isinstance(row, dict):
        raise DataError(f"expected an object, got {type(row).__name__}")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError("missing field 'question' (a non-empty string)")
    options = row.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise DataError("'options' must be a list of strings")
    if options and (any(not o.strip() for o in options) or len({o.strip() for o in options}) < 2):
        raise DataError(
            f"'options' must be at least 2 distinct non-empty strings, got {len(options)} "
            f"({len({o.strip() for o in options if o.strip()})} distinct non-empty); drop 'options' for a "
            "free-form question"
        )
    if len(options) > len(LETTERS):
        raise DataError(f"{len(options)} options; at most {len(LETTERS)} are supported")
    gold = row.get("gold", row.get("answer", row.get("gold_answer")))
    kind = row.get("kind") or ("multiple_choice" if options else "math")
    if kind not in ("multiple_choice", "math"):
        raise DataError(f"'kind' must be 'multiple_choice' or 'math', got {kind!r:.30}")
    fmt = AnswerFormat(kind="math") if kind == "math" else AnswerFormat(n_options=max(len(options), 2))
    try:
        return Instance(
            id=str(row.get("id", row.get("question_id", index))),
            question=question,
            options=options,
            gold=None if gold is None else str(gold),
            task=task,
            category=row.get("category"),
            answer_format=fmt,
        )
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DataError(f"invalid question row ({reasons})") from None


def question_row(inst: Instance) -> dict[str, Any]:
    """An instance as a question-file row (what :func:`question_instance` reads back to it): ``id``,
    ``question``, ``options`` and ``answer`` for multiple choice, ``kind: math`` and ``answer`` for a
    free-form one, and ``category`` when known."""
    row: dict[str, Any] = {"id": inst.id, "question": inst.question}
    if inst.answer_format.kind == "multiple_choice":
        row["options"] = list(inst.options)
    else:
        row["kind"] = "math"
    if inst.gold is not None:
        row["answer"] = inst.gold
    if inst.category is not None:
        row["category"] = inst.category
    return row


def load_questions(path: str | Path, *, skip_malformed: bool = False, task: str = "user") -> LoadResult:
    """Load a question file; rows are checked in file order, and the first bad one (malformed JSON or an
    invalid question) raises ``DataError`` naming file and line, or with ``skip_malformed`` is skipped and
    counted (``LoadResult.skipped``)."""
    instances: list[Instance] = []
    skipped = 0
    seen: set[str] = set()
    for line, row in iter_numbered_rows(path):
        try:
            if isinstance(row, Malformed):
                raise malformed_error(row, path, line)
            inst = question_instance(row, line - 1, task)
            if inst.id in seen:
                raise DataError(f"duplicate id {inst.id!r}")
        except DataError as exc:
            if skip_malformed:
                skipped += 1
                continue
            if exc.path is not None:  # already placed (a malformed row)
                raise
            raise DataError(f"{exc}; {SKIP_HINT}", path=str(path), line=line) from None
        seen.add(inst.id)
        instances.append(inst)
    if not instances:
        more = f" ({skipped} malformed rows skipped)" if skipped else ""
        raise DataError(f"no questions in the file{more}", path=str(path))
    return LoadResult(instances=instances, skipped=skipped, path=str(path))
