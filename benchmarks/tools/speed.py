"""Speed benchmarks: grouped (load-once) vs naive per-instance execution, and batch-planning overhead.

Both run in one process on the same inputs. ``grouped`` plans every (instance, expert) pair with
:func:`~batching.planner.plan_stage` and runs it with :func:`~batching.executor.run_plan`, so each model
loads once; ``naive`` builds, loads, queries and unloads an engine for every pair, the way a per-question
loop does. Outputs are greedy, so both modes must produce identical texts; the benchmark checks it.

The thin entrypoints are ``benchmarks/grouped_vs_naive.py`` and ``benchmarks/planning_overhead.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import platform
import random
import statistics
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from batching.config import TransformersExpertConfig
from batching.engines.base import Engine
from batching.engines.quiet_loading import quiet_weight_loading
from batching.engines.registry import build_engine
from batching.executor import run_plan
from batching.planner import plan_stage
from batching.residency import ResidencyManager
from common.generation import GenRequest, SamplingParams
from orchestrator.bench.record import BenchmarkRecord, record_header

logger = logging.getLogger(__name__)

RESULTS_DIR = Path("benchmarks/results")
"""Where ``--output-json`` without a path writes: ``<RESULTS_DIR>/<date>/<name>-<time>.json``."""

Outputs = dict[tuple[str, str], str | None]  # (instance_id, expert) -> generated text

_SPEED_PACKAGES = ("symbolic-moe", "torch", "transformers")
"""Distributions whose versions the speed and planning records hold."""


# -- configs and results -------------------------------------------------------------------------


class SpeedConfig(BaseModel):
    """Settings of the grouped-vs-naive benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_instances: int = Field(default=64, ge=1, description="Questions; each recruits experts_per_instance.")
    experts_per_instance: int = Field(default=3, ge=1, le=4, description="Experts per question (of 4).")
    max_tokens: int = Field(default=16, ge=1, description="New tokens per answer (greedy).")
    batch_size: int = Field(default=16, ge=1, description="Prompts per generate() call in grouped mode.")
    budget_gib: float = Field(default=4.0, gt=0, description="Residency budget of the grouped mode.")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="float32", description="float32 keeps greedy output batch-invariant on CPU."
    )
    device: str = "cpu"
    models_dir: str | None = Field(
        default=None, description="Tiny pool folder; $SYMOE_HOME/tiny-models when unset."
    )
    warmup: bool = Field(default=True, description="Run both modes once on 2 instances, untimed, first.")
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch intra-op threads during the run (restored after); 1 avoids oversubscription "
        "on a shared CPU. torch's default when unset.",
    )


class ModeStats(BaseModel):
    """Wall time and summed engine counters of one execution mode."""

    model_config = ConfigDict(extra="forbid")

    wall_s: float
    load_s: float = Field(description="Time in engine.load() (engine counters).")
    load_share: float = Field(description="load_s / wall_s.")
    unload_s: float = Field(description="Time in engine.unload() (timed by the benchmark).")
    generation_s: float = Field(description="Time in engine.generate() (engine counters).")
    overhead_share: float = Field(description="1 - generation_s / wall_s: loads, unloads, engine builds.")
    loads: int
    unloads: int
    generated_tokens: int
    requests: int


class SpeedResult(BenchmarkRecord):
    """The JSON record of one grouped-vs-naive run."""

    name: str = "grouped_vs_naive"
    device_name: str
    experts: list[str]
    n_pairs: int
    grouped: ModeStats
    naive: ModeStats
    speedup: float = Field(description="naive wall_s / grouped wall_s.")
    speedup_excl_unload: float = Field(
        description="The same with each mode's unload time taken out (unload runs a full gc.collect)."
    )
    outputs_identical: bool
    mismatches: list[str] = Field(default_factory=list, description="First differing pairs, if any.")


class PlanningConfig(BaseModel):
    """Settings of the planning-overhead benchmark (the paper's scale: 12k questions, 16 experts, 3 each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_instances: int = Field(default=12_000, ge=1)
    n_experts: int = Field(default=16, ge=1)
    experts_per_instance: int = Field(default=3, ge=1)
    repeats: int = Field(default=10, ge=1, description="Timed repeats.")
    warmup: int = Field(default=2, ge=0, description="Untimed repeats first.")
    seed: int = 0
    budget_s: float = Field(default=1.0, gt=0, description="The goal: mean planning time below this.")


class PlanningResult(BenchmarkRecord):
    """The JSON record of one planning-overhead run."""

    name: str = "planning_overhead"
    n_pairs: int
    n_batches: int
    mean_s: float
    p50_s: float
    p90_s: float
    p99_s: float
    min_s: float
    max_s: float
    within_budget: bool


# -- inputs --------------------------------------------------------------------------------------


def rotating_assignments(n_instances: int, experts: Sequence[str], k: int) -> list[tuple[str, list[str]]]:
    """Instance ``i`` recruits ``k`` consecutive experts starting at ``i mod len(experts)``."""
    n = len(experts)
    return [(f"q{i:05d}", [experts[(i + j) % n] for j in range(k)]) for i in range(n_instances)]


def random_assignments(
    n_instances: int, n_experts: int, k: int, seed: int = 0
) -> list[tuple[str, list[str]]]:
    """Instance ``i`` recruits ``k`` distinct experts drawn uniformly (seeded)."""
    rng = random.Random(seed)
    experts = [f"expert-{e:02d}" for e in range(n_experts)]
    return [(f"q{i:05d}", rng.sample(experts, k)) for i in range(n_instances)]


def speed_prompts(instance_ids: Sequence[str]) -> dict[str, str]:
    """Deterministic prompts of varied length, so grouped batches need padding."""
    subjects = ("math", "law", "physics", "history", "biology", "economics")
    prompts = {}
    for i, iid in enumerate(instance_ids):
        a, b = (7 * i) % 97, (13 * i) % 89
        extra = " Let's think step by step." * (i % 3)
        prompts[iid] = f"The following is a question about {subjects[i % 6]}. What is {a} plus {b}?{extra}"
    return prompts


def tiny_expert_configs(cfg: SpeedConfig, pool: Mapping[str, Path]) -> dict[str, TransformersExpertConfig]:
    """One transformers expert per tiny model, with the benchmark's dtype, device and batch size."""
    return {
        name: TransformersExpertConfig(
            name=name, model=str(path), dtype=cfg.dtype, device=cfg.device, batch_size=cfg.batch_size
        )
        for name, path in pool.items()
    }


# -- the two modes -------------------------------------------------------------------------------


def _request(iid: str, expert: str, prompts: Mapping[str, str], sampling: SamplingParams) -> GenRequest:
    return GenRequest(request_id=f"{iid}/{expert}", prompt=prompts[iid], sampling=sampling, instance_id=iid)


def _stats(engines: Sequence[Engine], wall_s: float, unload_s: float) -> ModeStats:
    counters = [e.counters for e in engines]
    load_s = sum(c.load_seconds for c in counters)
    generation_s = sum(c.generation_seconds for c in counters)
    return ModeStats(
        wall_s=round(wall_s, 4),
        load_s=round(load_s, 4),
        load_share=round(load_s / wall_s, 4) if wall_s > 0 else 0.0,
        unload_s=round(unload_s, 4),
        generation_s=round(generation_s, 4),
        overhead_share=round(1 - generation_s / wall_s, 4) if wall_s > 0 else 0.0,
        loads=sum(c.loads for c in counters),
        unloads=sum(c.unloads for c in counters),
        generated_tokens=sum(c.generated_tokens for c in counters),
        requests=sum(c.requests for c in counters),
    )


def run_grouped(
    configs: Mapping[str, TransformersExpertConfig],
    assignments: Sequence[tuple[str, Sequence[str]]],
    prompts: Mapping[str, str],
    sampling: SamplingParams,
    *,
    batch_size: int,
    budget_gib: float,
) -> tuple[ModeStats, Outputs]:
    """Plan all pairs per expert and run them with residency: each model loads once.

    Returns:
        The mode's stats (wall time includes planning, loads, generation and the final release) and
        the text of every pair.
    """
    engines = {name: build_engine(cfg) for name, cfg in configs.items()}
    residency = ResidencyManager.from_configs(budget_gib, list(configs.values()))
    start = time.perf_counter()
    plan = plan_stage("grouped", assignments, load_order=list(configs))
    done = run_plan(
        plan,
        engines,
        lambda iid, expert: _request(iid, expert, prompts, sampling),
        batch_size=batch_size,
        residency=residency,
    )
    residency.release_all()
    wall_s = time.perf_counter() - start
    stats = _stats(list(engines.values()), wall_s, residency.unload_seconds)
    return stats, {k: r.text for k, r in done.results.items()}


def run_naive(
    configs: Mapping[str, TransformersExpertConfig],
    assignments: Sequence[tuple[str, Sequence[str]]],
    prompts: Mapping[str, str],
    sampling: SamplingParams,
) -> tuple[ModeStats, Outputs]:
    """For every instance and each of its experts: build an engine, load, answer one prompt, unload."""
    used: list[Engine] = []
    outputs: Outputs = {}
    unload_s = 0.0
    start = time.perf_counter()
    for iid, experts in assignments:
        for expert in experts:
            engine = build_engine(configs[expert])
            engine.load()
            (result,) = engine.generate([_request(iid, expert, prompts, sampling)])
            unload_start = time.perf_counter()
            engine.unload()
            unload_s += time.perf_counter() - unload_start
            outputs[(iid, expert)] = result.text
            used.append(engine)
    wall_s = time.perf_counter() - start
    return _stats(used, wall_s, unload_s), outputs


def compare_outputs(grouped: Outputs, naive: Outputs, limit: int = 5) -> list[str]:
    """The first ``limit`` pairs whose texts differ (or that only one mode has), as ``iid/expert``."""
    keys = sorted(set(grouped) | set(naive))
    differ = [k for k in keys if k not in grouped or k not in naive or grouped[k] != naive[k]]
    return [f"{i}/{e}" for i, e in differ[:limit]]


def run_speed(cfg: SpeedConfig) -> SpeedResult:
    """Build the tiny pool, warm up, then time grouped and naive execution on the same inputs."""
    from zoo.tiny import ensure_tiny_pool  # imports torch; only this benchmark needs it

    pool = ensure_tiny_pool(cfg.models_dir)
    configs = tiny_expert_configs(cfg, pool)
    experts = list(configs)
    assignments = rotating_assignments(cfg.n_instances, experts, cfg.experts_per_instance)
    prompts = speed_prompts([iid for iid, _ in assignments])
    sampling = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens)
    grouped_run = functools.partial(run_grouped, batch_size=cfg.batch_size, budget_gib=cfg.budget_gib)
    with quiet_weight_loading(), _torch_threads(cfg.torch_threads):
        if cfg.warmup:  # imports, first-call kernels, page cache: kept out of the timings
            grouped_run(configs, assignments[:2], prompts, sampling)
            run_naive(configs, assignments[:2], prompts, sampling)
        grouped, grouped_out = grouped_run(configs, assignments, prompts, sampling)
        naive, naive_out = run_naive(configs, assignments, prompts, sampling)
    mismatches = compare_outputs(grouped_out, naive_out)
    logger.info(
        "grouped %.2fs (%d loads), naive %.2fs (%d loads), speedup %.1fx",
        grouped.wall_s,
        grouped.loads,
        naive.wall_s,
        naive.loads,
        naive.wall_s / grouped.wall_s,
    )
    return SpeedResult(
        **record_header(cfg, _SPEED_PACKAGES),
        device_name=_device_name(cfg.device),
        experts=experts,
        n_pairs=len(grouped_out),
        grouped=grouped,
        naive=naive,
        speedup=round(naive.wall_s / grouped.wall_s, 2),
        speedup_excl_unload=round((naive.wall_s - naive.unload_s) / (grouped.wall_s - grouped.unload_s), 2),
        outputs_identical=not mismatches,
        mismatches=mismatches,
    )


# -- planning overhead ---------------------------------------------------------------------------


def run_planning_overhead(cfg: PlanningConfig) -> PlanningResult:
    """Time :func:`plan_stage` on ``n_instances`` x ``experts_per_instance`` pairs over ``n_experts``."""
    assignments = random_assignments(cfg.n_instances, cfg.n_experts, cfg.experts_per_instance, cfg.seed)
    for _ in range(cfg.warmup):
        plan_stage("bench", assignments)
    times: list[float] = []
    for _ in range(cfg.repeats):
        start = time.perf_counter()
        plan = plan_stage("bench", assignments)
        times.append(time.perf_counter() - start)
    mean_s = statistics.fmean(times)
    return PlanningResult(
        **record_header(cfg, _SPEED_PACKAGES),
        n_pairs=plan.n_pairs,
        n_batches=len(plan.batches),
        mean_s=mean_s,
        p50_s=percentile(times, 50),
        p90_s=percentile(times, 90),
        p99_s=percentile(times, 99),
        min_s=min(times),
        max_s=max(times),
        within_budget=mean_s < cfg.budget_s,
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (exact for the few repeats a benchmark makes)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


# -- presentation and records --------------------------------------------------------------------


def speed_table(result: SpeedResult) -> Table:
    """A rich table: one row per mode, then the speedup and the output check."""
    cfg = result.config
    table = Table(
        title=(
            f"grouped vs naive: {cfg['n_instances']} instances x {cfg['experts_per_instance']} experts "
            f"({result.n_pairs} pairs), max_tokens={cfg['max_tokens']}, greedy, {result.device_name}, "
            f"torch threads {cfg['torch_threads'] or 'default'}"
        )
    )
    for col in ("mode", "wall s", "loads", "load s", "load %", "unload s", "gen s", "not gen %", "tokens"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for mode, s in (("grouped", result.grouped), ("naive", result.naive)):
        table.add_row(
            mode,
            f"{s.wall_s:.3f}",
            str(s.loads),
            f"{s.load_s:.3f}",
            f"{100 * s.load_share:.1f}",
            f"{s.unload_s:.3f}",
            f"{s.generation_s:.3f}",
            f"{100 * s.overhead_share:.1f}",
            str(s.generated_tokens),
        )
    goal = "[green]met[/]" if result.speedup >= 10 else "[red]not met[/]"
    same = "[green]identical[/]" if result.outputs_identical else f"[red]differ: {result.mismatches}[/]"
    table.caption = (
        f"speedup naive/grouped: {result.speedup:.1f}x (goal >= 10x: {goal}), "
        f"{result.speedup_excl_unload:.1f}x without unload time; outputs {same}"
    )
    return table


def planning_table(result: PlanningResult) -> Table:
    """A rich table of the planning time distribution."""
    cfg = result.config
    table = Table(
        title=(
            f"plan_stage: {cfg['n_instances']} instances x {cfg['experts_per_instance']} of "
            f"{cfg['n_experts']} experts ({result.n_pairs} pairs), {cfg['repeats']} repeats"
        )
    )
    for col in ("mean s", "p50 s", "p90 s", "p99 s", "min s", "max s", f"< {cfg['budget_s']} s"):
        table.add_column(col, justify="right")
    ok = "[green]yes[/]" if result.within_budget else "[red]no[/]"
    table.add_row(
        *(f"{v:.4f}" for v in (result.mean_s, result.p50_s, result.p90_s, result.p99_s)),
        f"{result.min_s:.4f}",
        f"{result.max_s:.4f}",
        ok,
    )
    return table


def write_result(result: BaseModel, output_json: str, results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``result`` as JSON; ``output_json="auto"`` means ``<results_dir>/<date>/<name>-<time>.json``.

    Results are append-only: an existing file is never overwritten (a numeric suffix is added).
    """
    if output_json == "auto":
        stamp = datetime.now(UTC).strftime("%H%M%S")
        path = results_dir / date.today().isoformat() / f"{getattr(result, 'name', 'bench')}-{stamp}.json"
    else:
        path = Path(output_json)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    candidate.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return candidate


def benchmark_parser(
    description: str, config_cls: type[BaseModel], log_help: str = "logging level"
) -> argparse.ArgumentParser:
    """The flags every speed benchmark takes: its config's fields, ``--output-json`` and ``--log-level``."""
    parser = argparse.ArgumentParser(description=description)
    add_cli_args(parser, config_cls)
    parser.add_argument(
        "--output-json",
        nargs="?",
        const="auto",
        default=None,
        help="write the JSON result (to PATH, or under benchmarks/results/<date>/ when no PATH is given)",
    )
    parser.add_argument("--log-level", default="WARNING", help=log_help)
    return parser


def add_cli_args(parser: argparse.ArgumentParser, config_cls: type[BaseModel]) -> None:
    """Add one ``--flag`` per config field (scalar types only), defaults and help taken from the model."""
    for name, field in config_cls.model_fields.items():
        flag = "--" + name.replace("_", "-")
        typ, choices = _scalar_type(field.annotation)
        help_text = f"{field.description or ''} (default: {field.default})".strip()
        if typ is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=typ, choices=choices, default=None, help=help_text)


def config_from_args(config_cls: type[BaseModel], args: argparse.Namespace) -> Any:
    """Build ``config_cls`` from the flags that were given (the rest keep the model's defaults)."""
    given = {k: getattr(args, k) for k in config_cls.model_fields if getattr(args, k, None) is not None}
    return config_cls.model_validate(given)


def _scalar_type(annotation: Any) -> tuple[type, list[str] | None]:
    """The argparse ``type`` (and ``choices`` for a ``Literal``) of a config field."""
    if get_origin(annotation) in (Union, types.UnionType):  # X | None
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return str, [str(a) for a in get_args(annotation)]
    if annotation not in (int, float, str, bool):
        raise TypeError(f"add_cli_args supports int/float/str/bool/Literal fields, got {annotation!r}")
    return annotation, None


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(torch.device(device)))
    return f"cpu ({platform.machine()}, {platform.processor() or 'unknown'})"


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the block (no change when None), then restore."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
