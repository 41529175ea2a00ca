"""Dataset loaders: file readers, MMLU-Pro, recording sets (GPQA, MATH-500), the Symbolic-MoE splits,
split-to-recording matching, the Hub."""

from __future__ import annotations

from orchestrator.datasets.hub import load_from_hub
from orchestrator.datasets.matching import (
    MATCH_STRATEGIES,
    MatchResult,
    MatchStrategy,
    match_split_to_recordings,
    question_key,
)
from orchestrator.datasets.mmlu_pro import load_mmlu_pro, mmlu_pro_from_rows, mmlu_pro_instance
from orchestrator.datasets.questions import load_questions, question_instance
from orchestrator.datasets.readers import (
    SUPPORTED_SUFFIXES,
    LoadResult,
    Row,
    read_numbered_rows,
    read_rows,
)
from orchestrator.datasets.recorded import load_recorded_questions, recorded_instance
from orchestrator.datasets.sample import stratified_sample
from orchestrator.datasets.splits import (
    SPLIT_TASKS,
    SplitTask,
    load_split,
    parse_inline_options,
    split_path,
)

__all__ = [
    "MATCH_STRATEGIES",
    "SPLIT_TASKS",
    "SUPPORTED_SUFFIXES",
    "LoadResult",
    "MatchResult",
    "MatchStrategy",
    "Row",
    "SplitTask",
    "load_from_hub",
    "load_mmlu_pro",
    "load_questions",
    "load_recorded_questions",
    "question_instance",
    "recorded_instance",
    "load_split",
    "match_split_to_recordings",
    "mmlu_pro_from_rows",
    "mmlu_pro_instance",
    "parse_inline_options",
    "question_key",
    "read_numbered_rows",
    "read_rows",
    "split_path",
    "stratified_sample",
]
