"""`symoe bench` and `symoe demo`: benchmarks with the comparison table, report, traces and plot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from common.errors import SymbolicMoEError
from orchestrator.cli.main import VerboseOption, app, check_out_dir, console, fail, route_logs, wide_console
from orchestrator.cli.progress import StageBars, progress_bars

if TYPE_CHECKING:
    from orchestrator.bench import BenchConfig


@app.command()
def bench(
    configs: Annotated[
        list[Path],
        typer.Argument(
            metavar="CONFIG",
            help="Bench YAMLs (e.g. configs/bench/gpqa_diamond.yaml), or a suite file listing them "
            "(configs/bench/suite.yaml)",
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", metavar="DIR", help="Data folder [default: ../shared/data if there]"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output folder for reports, traces and plots")
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
    peers_python: Annotated[
        str | None,
        typer.Option(
            "--peers-python",
            metavar="PYTHON",
            help="The python of the virtualenv holding the `peers` extra (LLMRouter, RouteLLM) for "
            "benches with `peers:` [default: this one; peers it cannot import are skipped]",
        ),
    ] = None,
) -> None:
    """Run benchmarks end to end (replayed or live experts) and print the comparison.

    One config: its table, written to OUT (report.json, traces.jsonl, accuracy_vs_calls.png,
    accuracy_vs_cost.png). Several (or a suite file): one table of methods x benchmarks, each bench's
    files in OUT/BENCH/ and every report in OUT/suite.json.
    """
    route_logs("bench", verbose=verbose)
    from orchestrator.bench import resolve_data_dir
    from orchestrator.bench.data import needs_data_dir
    from orchestrator.bench.suite import load_suite

    try:
        check_out_dir(out)
        cfgs = load_suite(configs, limit)
        if retrieval is not None:
            from orchestrator.bench.config import with_retrieval_mode

            cfgs = [with_retrieval_mode(c, retrieval) for c in cfgs]
        if peers_python is not None:
            cfgs = [
                c.model_copy(update={"peers": c.peers.model_copy(update={"python": peers_python})})
                if c.peers is not None
                else c
                for c in cfgs
            ]
        if len(cfgs) == 1:
            data = resolve_data_dir(data_dir) if needs_data_dir(cfgs[0]) else None
            where = f"data from {data}" if data else "questions from the config"
            console.print(f"bench {escape(cfgs[0].name)}: {escape(where)}")
    except SymbolicMoEError as exc:
        fail(exc)
    if len(cfgs) == 1:
        _bench_and_report(cfgs[0], data, out, progress)
    else:
        _suite_and_report(cfgs, data_dir, out, progress)


def _bench_and_report(cfg: BenchConfig, data: Path | None, out: Path, progress: bool) -> None:
    """Run the bench with progress bars, write report/traces/plots into ``out`` and print the tables."""
    from orchestrator.bench import run_bench

    start = time.perf_counter()
    try:
        with progress_bars(progress) as bars:
            hooks = StageBars(bars)
            report, traces = run_bench(cfg, data, progress=hooks.hook, on_step=hooks.steps(cfg.name))
        paths = report.write(out, traces)
    except SymbolicMoEError as exc:
        fail(exc)
    report.print(wide_console())
    console.print(
        f"done in {time.perf_counter() - start:.1f}s; wrote {escape(', '.join(str(p) for p in paths))}"
    )


def _suite_and_report(cfgs: list[BenchConfig], data_dir: Path | None, out: Path, progress: bool) -> None:
    """Run every bench (a progress bar each), print one methods x benchmarks table, write every file."""
    from orchestrator.bench.report import curve_line
    from orchestrator.bench.suite import run_suite, suite_table, write_suite

    start = time.perf_counter()
    try:
        with progress_bars(progress) as bars:
            hooks = StageBars(bars)
            runs = run_suite(
                cfgs,
                data_dir,
                progress=lambda name: lambda stage: hooks.hook(f"{name} {stage}"),
                steps=hooks.steps,
            )
        paths = write_suite(out, runs)
    except SymbolicMoEError as exc:
        fail(exc)
    wide = wide_console()
    wide.print(suite_table([r.report for r in runs]))
    for run in runs:
        r = run.report
        seconds = r.total_seconds
        line = f"{r.name}: {r.title().split(': ', 1)[1]}; best baseline {r.reference}; {seconds:.1f}s"
        wide.print(escape(line))
        for name, curve in r.curves.items():
            wide.print(escape(f"  {curve_line(name, curve)}"))
        if r.judge_agreement is not None:
            wide.print(f"  scoring agrees with the recordings' LLM judge on {100 * r.judge_agreement:.2f}%")
    first = escape(str(paths[0]))
    console.print(f"done in {time.perf_counter() - start:.1f}s; wrote {first} and {len(paths) - 1} files")


@app.command()
def demo(
    engine: Annotated[
        str, typer.Option(help="auto (vLLM on a GPU when installed, else transformers), vllm, transformers")
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
        cfg = demo_config(chosen, sample=sample, cpu_threads=cpu_threads)
    except SymbolicMoEError as exc:
        fail(exc)
    what = f"trained {', '.join(trained)}" if trained else "committed weights"
    console.print(f"demo: skill zoo ({len(cfg.pool)} experts, {what}) on the {chosen} engine")
    _bench_and_report(cfg, None, out, progress)
    console.print(f"demo total {time.perf_counter() - start:.1f}s (including imports and zoo check)")
