"""Converting other question formats into question files for ``symoe run`` (``symoe data convert``).

Sources: the Symbolic-MoE split files (``<TASK>_<split>.json.gz``: a JSON list of ``question``,
``gold_answer`` and optionally ``category``, multiple-choice options written inline after ``The options
are:``) and MMLU-Pro rows (``question_id``, ``question``, ``options``, ``answer``, ``category``). Parsing is
the loaders' (:func:`~orchestrator.datasets.splits.load_split`,
:func:`~orchestrator.datasets.mmlu_pro.load_mmlu_pro`); rows are written by
:func:`~orchestrator.datasets.questions.question_row`, so a converted file loads back to the same
questions with :func:`~orchestrator.datasets.questions.load_questions`.

GPQA's authors ask that its questions never appear in plain text (it keeps them out of training
crawls): GPQA is written gzipped only, and nothing here prints or logs a question.

Example::

    convert_questions("../shared/data/symbolic_moe_splits/MMLU_Pro_test.json.gz", "mmlu_pro_test.jsonl")
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from common.errors import ConfigError
from common.records import Instance
from orchestrator.datasets.mmlu_pro import load_mmlu_pro
from orchestrator.datasets.questions import question_row
from orchestrator.datasets.readers import LoadResult
from orchestrator.datasets.splits import SPLIT_TASKS, load_split, strip_inline_options

Source = Literal["auto", "split", "mmlu_pro"]
_SPLIT_NAME = re.compile(r"^(?P<task>.+)_(?P<split>[A-Za-z]+)\.json(\.gz)?$")
OUTPUT_SUFFIXES = (".jsonl", ".jsonl.gz")


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    """What :func:`convert_questions` wrote.

    Attributes:
        out: the question file.
        written: questions written.
        skipped: malformed source rows skipped (``skip_malformed`` only).
        source: ``split`` or ``mmlu_pro``.
        task: the task of the questions (``mmlu_pro``, ``gpqa``...).
    """

    out: Path
    written: int
    skipped: int
    source: str
    task: str


def _split_of(path: Path) -> tuple[str, str] | None:
    """(task, split) when ``path`` is named like a Symbolic-MoE split file, else None."""
    m = _SPLIT_NAME.match(path.name)
    if m is None or m.group("task") not in SPLIT_TASKS:
        return None
    return m.group("task"), m.group("split")


def _load(src: Path, source: Source, skip_malformed: bool) -> tuple[LoadResult, str]:
    split = _split_of(src)
    if source == "split" or (source == "auto" and split is not None):
        if split is None:
            raise ConfigError(
                f"{src}: not named like a split file <TASK>_<split>.json.gz with TASK one of "
                f"{', '.join(SPLIT_TASKS)}"
            )
        return load_split(src.parent, split[0], split[1], skip_malformed=skip_malformed), "split"
    return load_mmlu_pro(src, skip_malformed=skip_malformed), "mmlu_pro"


def _is_gpqa(src: Path, instances: list[Instance]) -> bool:
    return "gpqa" in str(src).lower() or any(i.task == "gpqa" for i in instances)


def _open_out(out: Path) -> IO[str]:
    if out.name.endswith(".gz"):
        return gzip.open(out, "wt", encoding="utf-8")
    return out.open("w", encoding="utf-8")


def convert_questions(
    src: str | Path, out: str | Path, *, source: Source = "auto", skip_malformed: bool = False
) -> Conversion:
    """Convert a split file or MMLU-Pro rows into a question file.

    Multiple-choice split questions lose their inline options text (the options go to ``options``; the
    prompt experts see is the same), AIME24 answers become ``kind: math`` rows.

    Args:
        src: a ``<TASK>_<split>.json.gz`` split file, or a JSON/JSONL/Parquet file of MMLU-Pro rows.
        out: the question file to write: ``.jsonl``, or ``.jsonl.gz`` (required for GPQA).
        source: ``auto`` (a split file by its name, else MMLU-Pro rows), ``split`` or ``mmlu_pro``.
        skip_malformed: skip and count malformed source rows instead of failing.

    Returns:
        What was written.

    Raises:
        ConfigError: an output that is not ``.jsonl``/``.jsonl.gz``, or GPQA to plain text.
        DataError: the source cannot be read or (without ``skip_malformed``) holds a malformed row.
    """
    src_path, out_path = Path(src), Path(out)
    if not out_path.name.endswith(OUTPUT_SUFFIXES):
        raise ConfigError(f"--out {out_path}: write a .jsonl or .jsonl.gz question file")
    if "gpqa" in str(src_path).lower() and not out_path.name.endswith(".gz"):
        raise _gpqa_plain_text(out_path)  # before reading anything
    loaded, kind = _load(src_path, source, skip_malformed)
    if _is_gpqa(src_path, loaded.instances) and not out_path.name.endswith(".gz"):
        raise _gpqa_plain_text(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with _open_out(out_path) as fh:
        for inst in loaded.instances:
            if inst.options:
                inst = inst.model_copy(update={"question": strip_inline_options(inst.question)})
            fh.write(json.dumps(question_row(inst), ensure_ascii=False) + "\n")
    task = loaded.instances[0].task if loaded.instances else ""
    return Conversion(
        out=out_path, written=len(loaded.instances), skipped=loaded.skipped, source=kind, task=task
    )


def _gpqa_plain_text(out: Path) -> ConfigError:
    return ConfigError(
        f"--out {out}: GPQA questions must never be written as plain text (its authors ask it, to keep "
        f"them out of training data); write {out.name}.gz instead"
    )
