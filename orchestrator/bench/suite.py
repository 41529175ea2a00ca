"""Several benchmarks in one command: run each, then one table, one JSON and a plot per benchmark.

``symoe bench A.yaml B.yaml ...`` (or a suite file listing them, ``benchmarks: [a.yaml, b.yaml]``) runs
every bench config in turn and prints one table: a row per method, a column per benchmark, each cell the
accuracy (mean +- std over CV seeds), calls per question and cost per question. It writes
``OUTDIR/<bench>/`` (each bench's report, traces and plots, as a single bench writes them) and
``OUTDIR/suite.json`` with every report.

A method that a benchmark does not run leaves its cell empty; rows follow the first benchmark's order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from common.config_file import beside, read_mapping
from common.errors import ConfigError
from common.records import FinalAnswer
from orchestrator.bench.config import BenchConfig, load_bench_config
from orchestrator.bench.data import needs_data_dir, resolve_data_dir
from orchestrator.bench.protocol import StepHook
from orchestrator.bench.report import BenchReport
from orchestrator.bench.runner import run_bench
from orchestrator.bench.stages import ProgressHook
from skills.embedding import Embedder

SUITE_KEY = "benchmarks"


def expand_configs(paths: Sequence[str | Path]) -> list[Path]:
    """Bench config paths, with each suite file (a YAML with ``benchmarks:``) replaced by its list.

    Raises:
        ConfigError: a suite file's ``benchmarks`` is not a list of paths, or no config remains.
    """
    out: list[Path] = []
    for path in paths:
        raw = read_mapping(path, "bench config")
        if SUITE_KEY not in raw:
            out.append(Path(path))
            continue
        listed = raw[SUITE_KEY]
        if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
            raise ConfigError(f"suite {path}: `{SUITE_KEY}` must be a list of bench config paths")
        out.extend(Path(beside(path, x)) for x in listed)
    if not out:
        raise ConfigError("no bench configs given")
    return out


@dataclass(frozen=True)
class BenchRun:
    """One benchmark's report and traces."""

    report: BenchReport
    traces: list[FinalAnswer]


def run_suite(
    configs: Sequence[BenchConfig],
    data_dir: str | Path | None,
    *,
    embedder: Embedder | None = None,
    progress: Callable[[str], Callable[[str], ProgressHook | None] | None] | None = None,
    steps: Callable[[str], StepHook | None] | None = None,
) -> list[BenchRun]:
    """Run every bench in turn.

    Args:
        configs: the bench configs.
        data_dir: the shared data folder (None: ``../shared/data`` when a bench needs it).
        embedder: the question embedder shared by the benches (each bench's cached default if None).
        progress: given a bench name, the expert-stage progress factory for it.
        steps: given a bench name, its protocol progress hook (splits done, in all).
    """
    runs = []
    for cfg in configs:
        data = resolve_data_dir(data_dir) if needs_data_dir(cfg) else None
        report, traces = run_bench(
            cfg,
            data,
            embedder=embedder,
            progress=progress(cfg.name) if progress is not None else None,
            on_step=steps(cfg.name) if steps is not None else None,
        )
        runs.append(BenchRun(report, traces))
    return runs


def load_suite(paths: Sequence[str | Path], limit: int | None = None) -> list[BenchConfig]:
    """The bench configs of ``paths`` (suite files expanded), with ``limit`` applied to each."""
    configs = [load_bench_config(p) for p in expand_configs(paths)]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ConfigError(f"two benches share a name (their output folders would collide): {names}")
    return [c.model_copy(update={"limit": limit}) if limit is not None else c for c in configs]


def suite_table(reports: Sequence[BenchReport]) -> Table:
    """One table: a row per method, a column per benchmark (accuracy; calls and cost per question)."""
    table = Table(title="accuracy (mean ± std over CV seeds) · calls/question · cost/question")
    table.add_column("method")
    for r in reports:
        table.add_column(escape(r.name), justify="right")  # config names are shown as written
    rows: list[str] = []
    for r in reports:
        rows.extend(m for m in r.methods if m not in rows)
    for method in rows:
        cells = []
        for r in reports:
            res = r.methods.get(method)
            if res is None:
                cells.append("")
                continue
            acc = f"{res.accuracy:.2f}" + (
                f" ± {res.accuracy_std:.2f}" if res.accuracy_std is not None else ""
            )
            mark = " *" if method == r.best_policy else ""
            cells.append(f"{acc}{mark}\n{res.calls_per_question:.2f} · {res.cost_per_question:.1f}")
        table.add_row(escape(method), *cells)
    table.caption = "* the bench's best policy; cost in billions of parameters per question"
    return table


def write_suite(out_dir: Path, runs: Sequence[BenchRun]) -> list[Path]:
    """Each bench's files into ``out_dir/<bench>/``, and ``out_dir/suite.json`` with every report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for run in runs:
        written.extend(run.report.write(out_dir / run.report.name, run.traces))
    suite = out_dir / "suite.json"
    suite.write_text(
        json.dumps({"benchmarks": [run.report.model_dump(mode="json") for run in runs]}, indent=2),
        encoding="utf-8",
    )
    return [suite, *written]
