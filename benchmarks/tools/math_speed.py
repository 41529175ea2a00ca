"""Cold against warm `symoe bench` on a free-form benchmark (MATH-500): what math-verify costs a first run.

Both runs are subprocesses sharing one ``SYMOE_HOME``: the first starts with empty caches (math-verify
verdicts, embeddings), the second finds them filled. The ONNX export of the embedding model is made
beforehand (:func:`~benchmarks.tools.cold.fresh_home`), since it happens once per machine, not per
cache. The table gives wall and CPU seconds (CPU: the bench and its math-verify workers) of the whole
run and of its math-verify and embedding stages, the cold/warm ratio, and whether every accuracy agrees.

The thin entrypoint is ``benchmarks/math_verify_speed.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from benchmarks.tools.cold import BenchProcessConfig, BenchProcessRun, fresh_home, run_bench_process
from orchestrator.bench.record import BenchmarkRecord, record_header

STAGES = ("math-verify", "embeddings + skills", "scoring", "routing + aggregation")


class MathSpeedConfig(BaseModel):
    """Settings of the cold/warm math-verify benchmark."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = Field(default="configs/bench/math500.yaml", description="A free-form bench YAML.")
    data_dir: str | None = Field(default=None, description="Data folder (default: ../shared/data).")
    limit: int | None = Field(default=None, ge=1, description="Only the first N test questions.")
    timeout_s: float = Field(default=1800.0, gt=0, description="Bound on one bench run.")
    census_sample: int = Field(
        default=0, ge=0, description="Also count the pairs and profile this many math-verify ones (0: skip)."
    )


class PairCensus(BaseModel):
    """Where a cold run's math-verify time goes: the pairs, and a profiled sample of the hard ones."""

    model_config = ConfigDict(extra="forbid")

    pairs: int
    distinct_pairs: int
    settled_without_parsing: int
    for_math_verify: int
    settled_by_values: int = Field(
        description="Of the pairs left to math-verify, those whose parsed values are far apart."
    )
    distinct_strings: int
    sample: int
    sample_strings: int
    parse_ms_per_string: float
    verify_ms_per_pair: float


class MathSpeedResult(BenchmarkRecord):
    """The JSON record of one cold/warm run."""

    name: str = "math_verify_speed"
    load_average: tuple[float, float, float]
    cold: BenchProcessRun
    warm: BenchProcessRun
    census: PairCensus | None = None


def pair_census(cfg: MathSpeedConfig) -> PairCensus:
    """Count the pairs a bench compares, and time ``census_sample`` of those math-verify must decide (in
    this process): CPU to parse each of their strings once, then CPU per comparison of parsed strings."""
    import random

    from orchestrator.answers import math_equal, trivial_verdict
    from orchestrator.bench.config import load_bench_config
    from orchestrator.bench.data import load_bench_data, resolve_data_dir
    from orchestrator.bench.runner import expert_answer_matrix
    from orchestrator.bench.verdicts import matrix_pairs
    from orchestrator.math_values import surely_unequal

    bench = load_bench_config(cfg.config)
    data_dir = resolve_data_dir(cfg.data_dir)
    matrix = expert_answer_matrix(bench, load_bench_data(bench, data_dir), data_dir)
    every = [p for g in matrix_pairs(matrix) for p in g]
    distinct = list(dict.fromkeys(every))
    hard = [p for p in distinct if trivial_verdict(*p) is None]
    sample = random.Random(0).sample(hard, min(cfg.census_sample, len(hard)))
    from orchestrator import answers

    strings = list(dict.fromkeys(x for p in sample for x in p))
    timeout = answers._MATH_VERIFY_TIMEOUT_S
    start = time.process_time()
    for text in strings:  # what the first comparison of each string pays (then memoised)
        answers._parsed(text, timeout)  # the key math_equal uses in a main thread
    parse_s = time.process_time() - start
    start = time.process_time()
    for pred, gold in sample:
        math_equal(pred, gold)
    verify_s = time.process_time() - start
    n = max(len(sample), 1)
    parse = answers._parsed
    by_values = sum(1 for p, g in hard if surely_unequal(parse(p, timeout), parse(g, timeout)))
    return PairCensus(
        pairs=len(every),
        distinct_pairs=len(distinct),
        settled_without_parsing=len(distinct) - len(hard),
        for_math_verify=len(hard),
        settled_by_values=by_values,
        distinct_strings=len({s for p in hard for s in p}),
        sample=len(sample),
        sample_strings=len(strings),
        parse_ms_per_string=round(1000 * parse_s / max(len(strings), 1), 1),
        verify_ms_per_pair=round(1000 * verify_s / n, 1),
    )


def run_math_speed(cfg: MathSpeedConfig) -> MathSpeedResult:
    """A cold run, then a warm one with the same home."""
    from benchmarks.tools.embed_speed import prepare_export
    from skills.embedding import resolve_backend

    run_cfg = BenchProcessConfig(
        config=cfg.config, data_dir=cfg.data_dir, limit=cfg.limit, timeout_s=cfg.timeout_s
    )
    with tempfile.TemporaryDirectory(prefix="symoe-math-speed-") as tmp:
        exports = Path(tmp) / "exports"
        prepare_export(resolve_backend(), exports)
        home = fresh_home(Path(tmp), "home", exports)
        cold = run_bench_process(run_cfg, home)
        warm = run_bench_process(run_cfg, home)
    census = pair_census(cfg) if cfg.census_sample else None
    return MathSpeedResult(**record_header(cfg, ("symbolic-moe", "math-verify", "sympy")),
                           load_average=os.getloadavg(), cold=cold, warm=warm, census=census)  # fmt: skip


def math_speed_table(result: MathSpeedResult) -> Table:
    """Cold and warm side by side, seconds as wall (CPU)."""
    table = Table(title=f"`symoe bench {result.config['config']}`: cold against warm caches")
    for col in ("run", "wall s", "CPU s", *(f"{s} s (CPU)" for s in STAGES), "accuracies"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, run in (("cold", result.cold), ("warm", result.warm)):
        wall, cpu = run.stage_seconds, run.stage_cpu_seconds
        same = "same" if run.accuracies == result.cold.accuracies else "DIFFER"
        table.add_row(
            name, f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}",
            *(f"{wall.get(s, 0.0):.1f} ({cpu.get(s, 0.0):.1f})" for s in STAGES),
            same,
        )  # fmt: skip
    c, w = result.cold, result.warm
    table.add_row(
        "cold / warm", f"{c.wall_s / w.wall_s:.2f}x", f"{c.cpu_s / w.cpu_s:.2f}x", *([""] * len(STAGES)), ""
    )
    table.add_row(  # what the first run costs on top, whatever the warm run's own length
        "cold - warm", f"{c.wall_s - w.wall_s:+.1f}", f"{c.cpu_s - w.cpu_s:+.1f}", *([""] * len(STAGES)), ""
    )
    return table
