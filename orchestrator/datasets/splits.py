"""Loading the Symbolic-MoE paper's task splits (``<TASK>_<split>.json.gz``) into ``Instance`` records.

GPQA's authors ask that its questions never appear in plain text: nothing here logs or puts question
text into an error message (errors name the file and row only), and nothing writes it anywhere.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from common.errors import ConfigError, DataError
from common.records import LETTERS, AnswerFormat, Instance
from orchestrator.datasets.readers import (
    SKIP_HINT,
    LoadResult,
    Row,
    describe_validation_error,
    read_numbered_rows,
)

logger = logging.getLogger(__name__)

OPTIONS_MARKER = "The options are:"
_OPTIONS_MARKER_RE = re.compile(r"\s*" + re.escape(OPTIONS_MARKER))


@dataclass(frozen=True, slots=True, kw_only=True)
class SplitTask:
    """One task of the Symbolic-MoE splits.

    Attributes:
        name: the file-name prefix, e.g. ``MMLU_Pro``.
        task: the ``Instance.task`` value, e.g. ``mmlu_pro``.
        kind: the answer kind.
        max_options: the most inline options its questions have (multiple choice only).
    """

    name: str
    task: str
    kind: Literal["multiple_choice", "math"]
    max_options: int = 10


SPLIT_TASKS: dict[str, SplitTask] = {
    t.name: t
    for t in (
        SplitTask(name="MMLU_Pro", task="mmlu_pro", kind="multiple_choice", max_options=10),
        SplitTask(name="GPQA", task="gpqa", kind="multiple_choice", max_options=4),
        SplitTask(name="MedMCQA", task="medmcqa", kind="multiple_choice", max_options=4),
        SplitTask(name="AIME24", task="aime24", kind="math"),
    )
}
"""The tasks by file-name prefix."""


def _resolve_task(task: str) -> SplitTask:
    for spec in SPLIT_TASKS.values():
        if task in (spec.name, spec.task):
            return spec
    raise ConfigError(
        f"unknown split task {task!r}; choose one of {', '.join(SPLIT_TASKS)} "
        f"(or {', '.join(t.task for t in SPLIT_TASKS.values())})"
    )


def parse_inline_options(question: str, max_options: int = len(LETTERS)) -> list[str]:
    """Parse the options written inline after ``The options are:``.

    Markers ``(A)``, ``(B)``, ... are looked for in order, each at the start of the options text or
    after whitespace, so a ``(C)`` inside an option's text is only taken as a marker when it comes
    where the next marker is due. Parsing stops at the first missing letter or at ``max_options``
    (the last option then runs to the end of the text).

    Args:
        question: a split question.
        max_options: the most options the task has (4 for GPQA and MedMCQA).

    Returns:
        The options' texts, stripped; empty when the question has no inline options.

    Example:
        >>> parse_inline_options("2+2? The options are: (A) 3 (B) 4")
        ['3', '4']
    """
    marker = _OPTIONS_MARKER_RE.search(question)
    if marker is None:
        return []
    text = question[marker.end() :]
    starts: list[tuple[int, int]] = []  # (marker start, text start) per option
    pos = 0
    for letter in LETTERS[:max_options]:
        found = re.compile(rf"(?:^|(?<=\s))\({letter}\)").search(text, pos)
        if found is None:
            break
        starts.append((found.start(), found.end()))
        pos = found.end()
    ends = [start for start, _ in starts[1:]] + [len(text)]
    return [text[body:end].strip() for (_, body), end in zip(starts, ends, strict=True)]


def strip_inline_options(question: str) -> str:
    """The question without its inline ``The options are: (A) ...`` part (unchanged without one)."""
    marker = _OPTIONS_MARKER_RE.search(question)
    return question if marker is None else question[: marker.start()].rstrip()


def _split_instance(spec: SplitTask, split: str, index: int, row: Row) -> Instance:
    """Build one instance; raises DataError without place (the caller adds it) and without text."""
    question = row.get("question")
    gold = row.get("gold_answer")
    if not isinstance(question, str) or not question.strip():
        raise DataError("'question' is missing or not a non-empty string")
    if not isinstance(gold, str) or not gold.strip():
        raise DataError("'gold_answer' is missing or not a non-empty string")
    category = row.get("category")
    if spec.kind == "math":
        options: list[str] = []
        answer_format = AnswerFormat(kind="math")
    else:
        options = parse_inline_options(question, spec.max_options)
        if len(options) < 2:
            raise DataError(
                f"found {len(options)} inline option(s); expected '{OPTIONS_MARKER} (A) ... (B) ...'"
            )
        answer_format = AnswerFormat(kind="multiple_choice", n_options=len(options))
        gold = gold.strip().upper()
    try:
        return Instance(
            id=f"{spec.name}_{split}_{index}",
            question=question,
            options=options,
            gold=gold.strip(),
            task=spec.task,
            category=category if isinstance(category, str) else None,
            answer_format=answer_format,
            metadata={"split": split},
        )
    except ValidationError as exc:
        raise DataError(describe_validation_error(exc)) from None


def split_path(data_dir: str | Path, task: str, split: str) -> Path:
    """The file of one split: ``<data_dir>/<TASK>_<split>.json.gz``.

    Args:
        data_dir: the splits directory, e.g. ``../shared/data/symbolic_moe_splits``.
        task: a task name (``MMLU_Pro``) or its ``Instance.task`` key (``mmlu_pro``).
        split: ``train`` (the paper's validation split, used for profiles) or ``test``.

    Returns:
        The path (which may not exist).

    Raises:
        ConfigError: the task is unknown.
    """
    return Path(data_dir) / f"{_resolve_task(task).name}_{split}.json.gz"


def load_split(data_dir: str | Path, task: str, split: str, *, skip_malformed: bool = False) -> LoadResult:
    """Load one Symbolic-MoE split file.

    Multiple-choice questions keep their inline options in ``question`` and also get them parsed
    into ``options`` (``n_options`` is their count); AIME24 gets a ``math`` answer format with the
    numeric gold string. Instance ids are ``<TASK>_<split>_<index>`` with the 0-based position in the
    file, so they stay stable when rows are skipped.

    Args:
        data_dir: the splits directory, e.g. ``../shared/data/symbolic_moe_splits``.
        task: ``MMLU_Pro``, ``GPQA``, ``MedMCQA`` or ``AIME24`` (or the lower-case keys ``mmlu_pro``, ...).
        split: ``train`` or ``test``.
        skip_malformed: skip and count malformed rows instead of raising.

    Returns:
        The instances in file order, the number skipped and the path.

    Raises:
        ConfigError: the task is unknown.
        DataError: the file is missing (the message lists the files there), cannot be read, or
            (without ``skip_malformed``) holds a malformed row; names the file and row, never the text.
    """
    spec = _resolve_task(task)
    path = split_path(data_dir, spec.name, split)
    if not path.is_file():
        available = sorted(p.name for p in Path(data_dir).glob("*.json*")) if Path(data_dir).is_dir() else []
        hint = f"available: {', '.join(available)}" if available else "the directory holds no split files"
        raise DataError(f"no split file for task {spec.name!r} split {split!r}; {hint}", path=str(path))
    rows, skipped = read_numbered_rows(path, skip_malformed=skip_malformed)
    instances: list[Instance] = []
    for number, row in rows:
        try:
            instances.append(_split_instance(spec, split, number - 1, row))
        except DataError as exc:
            if not skip_malformed:
                raise DataError(f"{exc}; {SKIP_HINT}", path=str(path), line=number) from None
            skipped += 1
            logger.debug("%s:%d: skipped malformed split row: %s", path, number, exc)
    if skipped:
        logger.warning("%s: skipped %d malformed rows", path, skipped)
    logger.info("loaded %d %s/%s instances from %s", len(instances), spec.name, split, path)
    return LoadResult(instances=instances, skipped=skipped, path=str(path))
