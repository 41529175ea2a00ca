"""The `symoe` command line: thin wrappers that parse options, build configs and call the orchestrator."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from common.errors import ConfigError, SymbolicMoEError
from orchestrator.store import DEFAULT_STORE_PATH

if TYPE_CHECKING:
    from orchestrator.bench import BenchConfig

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
    """Run a benchmark end to end (replayed or live experts) and print the comparison table."""
    from orchestrator.bench import load_bench_config, resolve_data_dir
    from orchestrator.bench.data import needs_data_dir

    _quiet_transformers()
    try:
        cfg = load_bench_config(config)
        if limit is not None:
            cfg = cfg.model_copy(update={"limit": limit})
        data = resolve_data_dir(data_dir) if needs_data_dir(cfg) else None
        console.print(f"bench {cfg.name}: " + (f"data from {data}" if data else "questions from the config"))
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    _bench_and_report(cfg, data, out, progress)


def _bench_and_report(cfg: BenchConfig, data: Path | None, out: Path, progress: bool) -> None:
    """Run the bench with progress bars, write report/traces/plot into ``out`` and print the tables."""
    from orchestrator.bench import run_bench

    start = time.perf_counter()
    try:
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
def demo(
    engine: Annotated[
        str, typer.Option(help="auto (vLLM when installed, else transformers), vllm or transformers")
    ] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Output folder for report, traces and plot")] = Path(
        "results/demo"
    ),
    sample: Annotated[
        int | None, typer.Option(help="Only N test questions, spread evenly over the skills")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """The whole method live on this machine: the skill zoo, profiled, routed, answered, compared.

    Six tiny experts this project trained (committed weights; missing ones are trained first) are
    profiled on the zoo's validation split and every method is compared on its test split: best single
    expert, top-3 majority, the paper's policy, our policies, the oracle. No download, no GPU needed.
    """
    from orchestrator.demo import demo_config, ensure_zoo, pick_engine

    _quiet_transformers()
    start = time.perf_counter()
    try:
        chosen = pick_engine(engine)  # type: ignore[arg-type]
        trained = ensure_zoo()
        cfg = demo_config(chosen, sample=sample)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    what = f"trained {', '.join(trained)}" if trained else "committed weights"
    console.print(f"demo: skill zoo ({len(cfg.pool)} experts, {what}) on the {chosen} engine")
    _bench_and_report(cfg, None, out, progress)
    console.print(f"demo total {time.perf_counter() - start:.1f}s (including imports and zoo check)")


@app.command()
def run(
    pool: Annotated[
        Path | None, typer.Option("--pool", help="Pool YAML, e.g. configs/pools/tiny-cpu.yaml")
    ] = None,
    input: Annotated[
        Path | None, typer.Option("--input", help="Questions: JSONL/JSON/Parquet rows with `question`")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Output folder for answers.jsonl and report.json")
    ] = Path("results/run"),
    skip_malformed: Annotated[
        bool, typer.Option(help="Skip and count malformed rows instead of failing")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    store: Annotated[
        Path,
        typer.Option("--store", envvar="SYMOE_STORE", help="Run store (SQLite) journaling every generation"),
    ] = DEFAULT_STORE_PATH,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume this run id: reuse every journaled generation")
    ] = None,
    cache: Annotated[
        bool, typer.Option(help="Reuse identical generations (same prompt hash) of other runs in the store")
    ] = False,
    backend: Annotated[str, typer.Option("--backend", help="Expert stage backend: local or ray")] = "local",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Attach to this Ray cluster")
    ] = None,
    num_gpus: Annotated[int | None, typer.Option(help="Local Ray only: GPUs to offer")] = None,
    gpu_mem_gib: Annotated[float | None, typer.Option(help="GPU memory per GPU, GiB (Ray backend)")] = None,
    log_json: Annotated[bool, typer.Option(help="Log JSON lines (with run id and expert) to stderr")] = False,
) -> None:
    """Run the full method live: annotate, recruit, expert stage batched per model, aggregate.

    The first line printed is ``run: <id>``; ``symoe run --resume <id>`` continues that run.
    """
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.run import RunOptions, resume_run, run_pool, write_run
    from orchestrator.run_log import configure_run_logging
    from orchestrator.slot_plan import ControllerConfig
    from orchestrator.store import RunStore, new_run_id

    configure_run_logging(os.environ.get("SYMOE_LOG_LEVEL", "WARNING"), json_lines=log_json)
    _quiet_transformers()
    try:
        if backend not in ("local", "ray"):
            raise ConfigError(f"--backend {backend!r}: expected local or ray")
        if resume is None and (pool is None or input is None):
            raise ConfigError("symoe run needs --pool and --input (or --resume <run-id>)")
        db = RunStore(store)
        ray_cfg = ControllerConfig(address=ray_address, num_gpus=num_gpus, gpu_mem_gib=gpu_mem_gib)
        opts = RunOptions(store=db, run_id=resume or new_run_id(), resume=resume is not None, cache=cache,
                          backend=backend, ray=ray_cfg)  # type: ignore[arg-type]  # fmt: skip
        typer.echo(f"run: {opts.run_id}")
        with _progress(progress, with_rate=True) as bars:
            hooks = _RunBars(bars)
            if resume is not None and pool is None:
                cfg, report, finals = resume_run(db, resume, progress=hooks.progress, options=opts,
                                                 on_tokens=hooks.tokens)  # fmt: skip
            else:
                assert pool is not None  # checked above
                cfg = load_pool_config(pool)
                if resume is not None:  # the stored questions; a given --pool must match the stored one
                    instances = db.instances(resume)
                else:
                    assert input is not None
                    loaded = load_questions(input, skip_malformed=skip_malformed)
                    instances = loaded.instances[:limit] if limit else loaded.instances
                console.print(f"pool {cfg.name}: {len(instances)} questions; store {db.path}")
                report, finals = run_pool(cfg, instances, progress=hooks.progress, options=opts,
                                          on_tokens=hooks.tokens)  # fmt: skip
        paths = write_run(out, report, finals)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    _print_run(report)
    console.print(
        f"generations: {report.generations_computed} computed, {report.generations_reused} reused; "
        f"wrote {', '.join(str(p) for p in paths)}"
    )


def _wide() -> Console:
    """The console for run tables: the terminal's width, or 160 columns when piped (no squeezed cells)."""
    return console if console.is_terminal else Console(width=160)


runs_app = typer.Typer(help="Inspect the runs journaled in the run store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    store: Annotated[
        Path, typer.Option("--store", envvar="SYMOE_STORE", help="Run store")
    ] = DEFAULT_STORE_PATH,
    limit: Annotated[int, typer.Option(help="Newest N runs")] = 20,
) -> None:
    """List the newest runs: id, status, pool, backend, generations computed and reused."""
    from orchestrator.store import RunStore
    from orchestrator.store_report import runs_table

    _wide().print(runs_table(RunStore(store).list_runs(limit)))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (see `symoe runs list`)")],
    store: Annotated[
        Path, typer.Option("--store", envvar="SYMOE_STORE", help="Run store")
    ] = DEFAULT_STORE_PATH,
) -> None:
    """Per stage and expert: calls, computed/reused, failures, load and generation time, tokens/s."""
    from orchestrator.store import RunStore
    from orchestrator.store_report import run_table

    try:
        db = RunStore(store)
        record = db.get_run(run_id)
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    _wide().print(run_table(db, record))
    if record.error:
        console.print(f"[red]failed:[/] {record.error}")
    for e in (x for x in db.events(run_id) if x["kind"] == "failure"):
        console.print(f"worker failure: stage {e['stage']}, expert {e['expert']}: {e['detail']}")


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


@app.command()
def serve(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML")],
    host: Annotated[str, typer.Option(help="Interface; loopback only unless API keys are set")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    batch_window_s: Annotated[
        float, typer.Option(help="Micro-batching window (adds up to this latency)")
    ] = 0.02,
    rate_limit_per_min: Annotated[int | None, typer.Option(help="Requests per key per minute")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body")] = 1_000_000,
    max_upload_bytes: Annotated[int, typer.Option(help="Largest batch file upload")] = 50_000_000,
    data_dir: Annotated[
        Path, typer.Option(help="Batch files and records (default ~/.cache/symbolic-moe/service)")
    ] = Path("~/.cache/symbolic-moe/service"),
    store: Annotated[
        Path | None, typer.Option(help="Run store journaling batch runs (default DATA_DIR/runs.sqlite)")
    ] = None,
) -> None:
    """Serve a pool as an OpenAI-compatible API (keys from SYMOE_API_KEYS, comma-separated).

    Batch jobs (/v1/files, /v1/batches) keep their files under --data-dir; batches a crash left unfinished
    resume at startup from the run store.
    """
    import uvicorn

    from orchestrator.pool import load_pool_config
    from orchestrator.service import bind_host, create_app

    _quiet_transformers()
    keys = [k.strip() for k in os.environ.get("SYMOE_API_KEYS", "").split(",") if k.strip()]
    bound = bind_host(host, keys)
    if bound != host:
        console.print(f"[yellow]no API keys (SYMOE_API_KEYS): serving on {bound} only[/]")
    try:
        api = create_app(
            load_pool_config(pool),
            api_keys=keys,
            batch_window_s=batch_window_s,
            rate_limit_per_min=rate_limit_per_min,
            max_body_bytes=max_body_bytes,
            max_upload_bytes=max_upload_bytes,
            data_dir=data_dir,
            store_path=store,
        )
    except SymbolicMoEError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from exc
    uvicorn.run(api, host=bound, port=port, log_config=None)


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


class _RunBars:
    """`symoe run` bars: overall, one per stage, one per model (prompts done/total, tokens/s)."""

    def __init__(self, bars: Progress | None) -> None:
        self.bars = bars
        self.done: dict[tuple[str, str], tuple[int, int]] = {}
        self.tasks: dict[str, TaskID] = {}
        self.rate: dict[str, tuple[int, float]] = {}

    def _task(self, key: str, label: str) -> TaskID:
        assert self.bars is not None
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(label, total=None, rate="")
        return self.tasks[key]

    def progress(self, stage: str, model: str, done: int, total: int) -> None:
        if self.bars is None:
            return
        self.done[(stage, model)] = (done, total)
        overall = self._task("*", "overall")
        self.bars.update(overall, completed=sum(d for d, _ in self.done.values()),
                         total=sum(t for _, t in self.done.values()))  # fmt: skip
        per_stage = [v for (s, _), v in self.done.items() if s == stage]
        self.bars.update(self._task(stage, f"{stage}"), completed=sum(d for d, _ in per_stage),
                         total=sum(t for _, t in per_stage))  # fmt: skip
        tokens, seconds = self.rate.get(model, (0, 0.0))
        rate = f"{tokens / seconds:.0f} tok/s" if seconds > 0 else ""
        self.bars.update(self._task(f"{stage}:{model}", f"  {stage}: {model}"), completed=done, total=total,
                         rate=rate)  # fmt: skip

    def tokens(self, stage: str, model: str, tokens: int, seconds: float) -> None:
        t, s = self.rate.get(model, (0, 0.0))
        self.rate[model] = (t + tokens, s + seconds)


class _NoBars:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(enabled: bool, *, with_rate: bool = False) -> Progress | _NoBars:
    """Transient rich bars (description, bar, done/total, elapsed; a ``rate`` field when asked)."""
    if not enabled:
        return _NoBars()
    rate = (TextColumn("{task.fields[rate]}"),) if with_rate else ()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *rate,
        console=console,
        transient=True,
    )


if __name__ == "__main__":
    app()
