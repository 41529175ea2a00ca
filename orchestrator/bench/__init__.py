"""The benchmark runner: replay real recorded expert outputs through the whole method and compare."""

from __future__ import annotations

from orchestrator.bench.config import BenchConfig, load_bench_config
from orchestrator.bench.data import BenchData, load_bench_data, resolve_data_dir
from orchestrator.bench.report import BenchReport
from orchestrator.bench.runner import baseline_methods, run_bench

__all__ = [
    "BenchConfig",
    "BenchData",
    "BenchReport",
    "baseline_methods",
    "load_bench_config",
    "load_bench_data",
    "resolve_data_dir",
    "run_bench",
]
