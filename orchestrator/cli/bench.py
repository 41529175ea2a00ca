"""`symoe bench` and `symoe demo`: benchmarks with the comparison table, report, traces and plot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from common.errors import SymbolicMoEError
from orchestrator.cli.main import VerboseOption, app, check_out_dir, console, fail, route_logs
from orchestrator.cli.progress import StageBars, progress_bars

if TYPE_CHECKING:
    from orchestrator.bench import BenchConfig


@app.command()
def bench(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="Bench YAML, e.g. a file in configs/bench")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", metavar="DIR", help="Data folder [default: ../shared/data if there]"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output folder for report, traces and plot")
    ] = Path("results/bench"),
    limit: Annotated[
        int | None, typer.Option(metavar="N", help="Only the first N test questions", min=1)
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    verbose: VerboseOption = False,
    retrieval: Annotated[
        str | None,
        typer.Option("--retrieval", metavar="MODE", help="Every method retrieves: never, always or gated"),
    ] = None,
) -> None:
    """Run a benchmark end to end (replayed or live experts) and print the comparison table."""
    route_logs("bench", verbose=verbose)
    from orchestrator.bench import load_bench_config, resolve_data_dir
    from orchestrator.bench.data import needs_data_dir

    try:
        check_out_dir(out)
        cfg = load_bench_config(config)
        if limit is not None:
            cfg = cfg.model_copy(update={"limit": limit})
        if retrieval is not None:
            from orchestrator.bench.config import with_retrieval_mode

            cfg = with_retrieval_mode(cfg, retrieval)
        data = resolve_data_dir(data_dir) if needs_data_dir(cfg) else None
        console.print(f"bench {cfg.name}: " + (f"data from {data}" if data else "questions from the config"))
    except SymbolicMoEError as exc:
        fail(exc)
    _bench_and_report(cfg, data, out, progress)


def _bench_and_report(cfg: BenchConfig, data: Path | None, out: Path, progress: bool) -> None:
    """Run the bench with progress bars, write report/traces/plot into ``out`` and print the tables."""
    from orchestrator.bench import run_bench

    start = time.perf_counter()
    try:
        with progress_bars(progress) as bars:
            hooks = StageBars(bars)
            report, traces = run_bench(cfg, data, progress=hooks.hook)
        paths = report.write(out, traces)
    except SymbolicMoEError as exc:
        fail(exc)
    report.print(console)
    console.print(f"done in {time.perf_counter() - start:.1f}s; wrote {', '.join(str(p) for p in paths)}")


@app.command()
def demo(
    engine: Annotated[
        str, typer.Option(help="auto (vLLM when installed, else transformers), vllm or transformers")
    ] = "auto",
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output folder for report, traces and plot")
    ] = Path("results/demo"),
    sample: Annotated[
        int | None,
        typer.Option(metavar="N", help="Only N test questions, spread evenly over the skills", min=1),
    ] = None,
    cpu_threads: Annotated[
        int | None, typer.Option(min=1, help="transformers: torch threads (default: 1 for the tiny zoo)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    verbose: VerboseOption = False,
) -> None:
    """The whole method live on this machine: the skill zoo, profiled, routed, answered, compared.

    Six tiny experts this project trained (committed weights; missing ones are trained first) are
    profiled on the zoo's validation split and every method is compared on its test split: best single
    expert, top-3 majority, the paper's policy, our policies, the oracle. No download, no GPU needed.
    """
    route_logs("demo", verbose=verbose)
    from orchestrator.bench.demo import demo_config, ensure_zoo, pick_engine

    start = time.perf_counter()
    try:
        check_out_dir(out)
        chosen = pick_engine(engine)  # type: ignore[arg-type]
        trained = ensure_zoo()
        cfg = demo_config(chosen, sample=sample)
    except SymbolicMoEError as exc:
        fail(exc)
    what = f"trained {', '.join(trained)}" if trained else "committed weights"
    console.print(f"demo: skill zoo ({len(cfg.pool)} experts, {what}) on the {chosen} engine")
    _bench_and_report(cfg, None, out, progress)
    console.print(f"demo total {time.perf_counter() - start:.1f}s (including imports and zoo check)")
