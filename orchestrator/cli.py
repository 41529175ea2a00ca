"""The `symoe` command line: thin wrappers that parse options, build configs and call the orchestrator."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from common.errors import SymbolicMoEError

app = typer.Typer(
    help="Symbolic Mixture-of-Experts: skill-based routing over whole LLMs.", no_args_is_help=True
)
console = Console()


def _configure_logging() -> None:
    level = os.environ.get("SYMOE_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # our own rich bars replace the per-file bars of huggingface_hub / transformers
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@app.callback()
def main() -> None:
    """Symbolic-MoE."""
    _configure_logging()


@app.command()
def bench(
    config: Annotated[Path, typer.Argument(help="Bench YAML, e.g. configs/bench/mmlu_pro_paper_small.yaml")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data folder; default ../shared/data when it exists")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder for report, traces and plot")] = Path(
        "results/bench"
    ),
    limit: Annotated[int | None, typer.Option(help="Only the first N test questions")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Run a replay benchmark end to end and print the comparison table."""
    from orchestrator.bench import load_bench_config, resolve_data_dir, run_bench

    _quiet_transformers()
    try:
        cfg = load_bench_config(config)
        if limit is not None:
            cfg = cfg.model_copy(update={"limit": limit})
        data = resolve_data_dir(data_dir)
        console.print(f"bench {cfg.name}: data from {data}")
        start = time.perf_counter()
        with _progress(progress) as bars:
            hooks = _StageBars(bars)
            report, traces = run_bench(cfg, data, progress=hooks.hook)
        paths = report.write(out, traces)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    report.print(console)
    console.print(f"done in {time.perf_counter() - start:.1f}s; wrote {', '.join(str(p) for p in paths)}")


@app.command()
def run(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML, e.g. configs/pools/tiny-cpu.yaml")],
    input: Annotated[
        Path, typer.Option("--input", help="Questions: JSONL/JSON/Parquet rows with `question`")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output folder for answers.jsonl and report.json")
    ] = Path("results/run"),
    skip_malformed: Annotated[
        bool, typer.Option(help="Skip and count malformed rows instead of failing")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Run the full method live: annotate, recruit, expert stage batched per model, aggregate."""
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.run import run_pool, write_run

    _quiet_transformers()
    try:
        cfg = load_pool_config(pool)
        loaded = load_questions(input, skip_malformed=skip_malformed)
        instances = loaded.instances[:limit] if limit else loaded.instances
        console.print(
            f"pool {cfg.name}: {len(instances)} questions ({loaded.skipped} malformed rows skipped)"
        )
        with _progress(progress) as bars:
            hooks = _StageBars(bars)
            report, finals = run_pool(cfg, instances, progress=lambda st, m, d, t: hooks.hook(st)(m, d, t))
        paths = write_run(out, report, finals)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    _print_run(report)
    console.print(f"wrote {', '.join(str(p) for p in paths)}")


@app.command()
def profile(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML")],
    input: Annotated[Path, typer.Option("--input", help="Validation questions with gold answers")],
    out: Annotated[Path, typer.Option("--out", help="Profiling record JSON to write")],
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Profile every expert of a pool on validation questions (the record `profiles:` points at)."""
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.run import profile_pool

    _quiet_transformers()
    try:
        cfg = load_pool_config(pool)
        instances = load_questions(input).instances
        with _progress(progress) as bars:
            hooks = _StageBars(bars)
            record = profile_pool(cfg, instances, progress=lambda st, m, d, t: hooks.hook(st)(m, d, t))
        record.save(out)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    for j, e in enumerate(record.experts):
        acc = 100 * sum(r[j] for r in record.correct) / max(len(record.correct), 1)
        console.print(f"{e}: {acc:.1f}% on {len(record.correct)} validation questions")
    console.print(f"wrote {out}")


def _print_run(report) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title=f"{report.pool}: {report.n} questions, {report.expert_calls_per_question:.2f} calls/q"
    )
    for col in ("model", "loads", "load s", "gen tokens", "gen s", "tokens/s"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for name, m in report.models.items():
        rate = m.generated_tokens / m.generation_seconds if m.generation_seconds else 0.0
        table.add_row(
            name,
            str(m.loads),
            f"{m.load_seconds:.2f}",
            str(m.generated_tokens),
            f"{m.generation_seconds:.2f}",
            f"{rate:.0f}",
        )
    console.print(table)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in report.stage_seconds.items())
    acc = f"accuracy {report.accuracy:.2f}%; " if report.accuracy is not None else ""
    console.print(f"{acc}stages: {stages}; counts: {report.counts}")


class _StageBars:
    """One progress bar per (stage, expert)."""

    def __init__(self, bars: Progress | None) -> None:
        self.bars = bars
        self.tasks: dict[tuple[str, str], int] = {}

    def hook(self, stage: str):  # type: ignore[no-untyped-def]
        def update(expert: str, done: int, total: int) -> None:
            if self.bars is None:
                return
            key = (stage, expert)
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(f"{stage}: {expert}", total=total)
            self.bars.update(self.tasks[key], completed=done)

        return update


class _NoBars:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(enabled: bool) -> Progress | _NoBars:
    if not enabled:
        return _NoBars()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


if __name__ == "__main__":
    app()
