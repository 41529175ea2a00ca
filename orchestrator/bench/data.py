"""The benchmark's questions: profiling and test instances resolved from a data directory and a config."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError
from common.records import Instance
from orchestrator.bench.config import BenchConfig, CrossValidationData, QuestionFilesData, RandomSplitData
from orchestrator.datasets import (
    load_questions,
    load_recorded_questions,
    load_split,
    match_split_to_recordings,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BenchData:
    """Profiling and test instances (recorded question ids), plus how they were obtained.

    Under cross-validation both lists hold every question: each split profiles on some and tests on
    the others (:mod:`orchestrator.bench.cv`).
    """

    profile: list[Instance]
    test: list[Instance]
    notes: dict[str, int]
    cross_validation: CrossValidationData | None = None


def resolve_data_dir(data_dir: str | Path | None, *, start: Path | None = None) -> Path:
    """The data directory to use: the given one, else ``../shared/data`` beside the checkout.

    Raises:
        ConfigError: nothing found, with what was tried and how to pass a directory.
    """
    if data_dir is not None:
        p = Path(data_dir).expanduser()
        if not p.is_dir():
            raise ConfigError(f"--data-dir {p} does not exist or is not a directory")
        return p
    here = (start or Path.cwd()).resolve()
    candidates = [
        here / ".." / "shared" / "data",
        Path(__file__).resolve().parents[2] / ".." / "shared" / "data",
    ]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"no data directory found (tried {tried}); pass --data-dir DIR pointing at a folder with "
        "mmlu_pro_recordings/ and symbolic_moe_splits/"
    )


def needs_data_dir(cfg: BenchConfig) -> bool:
    """Whether the bench reads the shared data folder (recordings, split files, replay experts)."""
    replay = any(e.engine == "replay" for e in cfg.pool)
    return replay or not isinstance(cfg.data, QuestionFilesData)


def load_bench_data(cfg: BenchConfig, data_dir: Path | None) -> BenchData:
    """Load the profiling and test instances the config asks for (``data_dir`` unused for question files)."""
    if isinstance(cfg.data, QuestionFilesData):
        profile = load_questions(cfg.data.profile).instances
        test = load_questions(cfg.data.test).instances
        test = _subset(cfg, test)
        ungraded = [i.id for i in (*profile, *test) if not i.gold]
        if ungraded:
            raise ConfigError(f"bench questions need gold answers; none for {', '.join(ungraded[:5])}")
        return BenchData(
            profile=profile, test=test, notes={"profile_questions": len(profile), "test_questions": len(test)}
        )
    if data_dir is None:
        raise ConfigError(f"bench {cfg.name} reads recordings: pass a data directory")
    rec_dir = data_dir / cfg.recordings
    questions = rec_dir / "questions.jsonl.gz"
    if not questions.exists():
        questions = rec_dir / "questions.jsonl"
    if not questions.exists():
        raise ConfigError(f"no questions.jsonl(.gz) in {rec_dir}; check --data-dir and `recordings`")
    recorded = load_recorded_questions(questions, cfg.task).instances
    if isinstance(cfg.data, CrossValidationData):
        every = _subset(cfg, recorded)
        notes = {"recorded_questions": len(recorded), "questions": len(every)}
        return BenchData(profile=every, test=every, notes=notes, cross_validation=cfg.data)
    if isinstance(cfg.data, RandomSplitData):
        perm = np.random.default_rng(cfg.data.seed).permutation(len(recorded))
        cut = int(round(cfg.data.profile_fraction * len(recorded)))
        profile = [recorded[i] for i in perm[:cut]]
        test = [recorded[i] for i in perm[cut:]]
        notes = {"recorded_questions": len(recorded)}
    else:
        splits_dir = data_dir / cfg.data.splits_dir
        parts = []
        notes = {}
        for split in (cfg.data.profile_split, cfg.data.test_split):
            raw = load_split(splits_dir, cfg.data.task, split).instances
            matched = match_split_to_recordings(raw, recorded, strategy=cfg.data.match)
            parts.append([rec for _, rec in matched.matched])
            notes[f"{split}_questions"] = len(raw)
            notes[f"{split}_matched"] = len(matched.matched)
            logger.info(
                "%s %s: %d of %d questions matched", cfg.data.task, split, len(matched.matched), len(raw)
            )
        profile, test = parts
    return BenchData(profile=profile, test=_subset(cfg, test), notes=notes)


def _subset(cfg: BenchConfig, test: list[Instance]) -> list[Instance]:
    """The first ``limit`` test questions, then ``sample`` of them spread evenly (first and last kept)."""
    if cfg.limit is not None:
        test = test[: cfg.limit]
    if cfg.sample is not None and cfg.sample < len(test):
        picks = np.unique(np.linspace(0, len(test) - 1, cfg.sample).round().astype(int))
        test = [test[i] for i in picks]
    return test
