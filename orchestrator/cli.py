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
