"""`symoe run` and `symoe profile`: the whole method live over a pool, and profiling a pool."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from batching.journal.store import DEFAULT_STORE_PATH
from common.errors import ConfigError, SymbolicMoEError
from orchestrator.cli.main import (
    VerboseOption,
    app,
    check_out_dir,
    check_out_file,
    console,
    err_console,
    fail,
    route_logs,
)
from orchestrator.cli.progress import RunBars, StageBars, progress_bars

if TYPE_CHECKING:
    from batching.journal.store import RunStore
    from common.records import Instance
    from orchestrator.pool import PoolConfig


@app.command()
def run(
    pool: Annotated[
        Path | None, typer.Option("--pool", metavar="YAML", help="Pool config, e.g. a file in configs/pools")
    ] = None,
    input: Annotated[
        Path | None, typer.Option("--input", metavar="FILE", help="Questions: JSONL, JSON or Parquet rows")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for answers.jsonl and report.json")
    ] = Path("results/run"),
    skip_malformed: Annotated[
        bool, typer.Option("--skip-malformed", help="Skip and count malformed rows instead of failing")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            metavar="N", min=1, help="Only the first N rows, in file order (a sorted file gives one category)"
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            metavar="N", min=1, help="A seeded sample of N questions, each category in proportion to its size"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of --sample")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    store: Annotated[
        Path,
        typer.Option("--store", envvar="SYMOE_STORE", metavar="FILE", help="Run store (SQLite)"),
    ] = DEFAULT_STORE_PATH,
    resume: Annotated[
        str | None, typer.Option("--resume", metavar="RUN_ID", help="Resume this run, reusing its work")
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache", help="Reuse identical generations of other runs in the store")
    ] = False,
    backend: Annotated[str, typer.Option("--backend", metavar="NAME", help="Expert stage: local or ray")] = (
        "local"
    ),
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", envvar="RAY_ADDRESS", metavar="ADDR", help="Attach to this Ray cluster"
        ),
    ] = None,
    num_gpus: Annotated[
        int | None, typer.Option(metavar="N", help="Local Ray only: GPUs to offer", min=0)
    ] = None,
    gpu_mem_gib: Annotated[
        float | None, typer.Option(metavar="GIB", help="Ray: GPU memory per GPU", min=0)
    ] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Our log records as JSON lines")] = False,
    verbose: VerboseOption = False,
    retrieval: Annotated[
        str | None,
        typer.Option(
            "--retrieval", metavar="MODE", help="Retrieval: never, always or gated (pool's default)"
        ),
    ] = None,
    retrieval_audit: Annotated[
        float | None,
        typer.Option("--retrieval-audit", metavar="P", help="Also answer share P of questions the other way"),
    ] = None,
) -> None:
    """Run the full method live: annotate, recruit, retrieve (gated), experts batched per model, aggregate.

    The first line printed is `run: RUN_ID` (once the inputs and the pool are checked);
    `symoe run --resume RUN_ID` continues that run.
    """
    log_path = route_logs("run", verbose=verbose, json_lines=log_json, announce=False)
    from batching.journal.store import new_run_id
    from orchestrator.datasets import stratified_sample
    from orchestrator.pool import with_retrieval
    from orchestrator.rag.knowledge import check_retrieval
    from orchestrator.ray.slots import ControllerConfig
    from orchestrator.runs.report import write_run
    from orchestrator.runs.runner import RunOptions, resume_run, run_pool

    try:  # everything that can be wrong with the inputs fails here, before a run id exists
        if backend not in ("local", "ray"):
            raise ConfigError(f"--backend {backend!r}: expected local or ray")
        check_out_dir(out)
        if limit is not None and sample is not None:
            raise ConfigError("--limit and --sample: pass one of them")
        cfg, instances, db, skipped = _inputs(pool, input, resume, store, skip_malformed, limit)
        if sample is not None and resume is None:
            instances = stratified_sample(instances, sample, seed=seed)
        overridden = retrieval is not None or retrieval_audit is not None
        cfg = with_retrieval(cfg, retrieval, retrieval_audit)
        check_retrieval(cfg.retrieval, has_profiles=bool(cfg.profiles))
        ray_cfg = ControllerConfig(address=ray_address, num_gpus=num_gpus, gpu_mem_gib=gpu_mem_gib)
        opts = RunOptions(store=db, run_id=resume or new_run_id(), resume=resume is not None, cache=cache,
                          backend=backend, ray=ray_cfg)  # type: ignore[arg-type]  # fmt: skip
    except SymbolicMoEError as exc:
        fail(exc)
    typer.echo(f"run: {opts.run_id}")
    err_console.print(f"[dim]logs: {log_path}[/]", highlight=False)
    if skipped:
        err_console.print(
            f"[yellow]skipped {skipped} malformed row(s) of {escape(str(input))} (--skip-malformed)[/]"
        )
    console.print(f"pool {escape(cfg.name)}: {len(instances)} questions; store {escape(db.path)}")
    try:
        with progress_bars(progress, with_rate=True) as bars:
            hooks = RunBars(bars)
            if resume is not None and pool is None and not overridden:
                cfg, report, finals = resume_run(db, resume, progress=hooks.progress, options=opts,
                                                 on_tokens=hooks.tokens)  # fmt: skip
            else:
                report, finals = run_pool(cfg, instances, progress=hooks.progress, options=opts,
                                          on_tokens=hooks.tokens)  # fmt: skip
        report = report.model_copy(update={"skipped_rows": skipped})
        paths = write_run(out, report, finals)
    except SymbolicMoEError as exc:
        fail(exc)
    _print_run(report)
    if report.retrieval is not None:
        _print_retrieval(report.retrieval)
    errors = report.counts.get("errors", 0)
    if errors:
        err_console.print(
            f"[yellow]{errors} question(s) have no answer: every recruited expert failed; "
            "see 'error' in answers.jsonl[/]"
        )
    console.print(
        f"generations: {report.generations_computed} computed, {report.generations_reused} reused; "
        f"wrote {escape(', '.join(str(p) for p in paths))}"
    )


def _inputs(
    pool: Path | None,
    input: Path | None,
    resume: str | None,
    store: Path,
    skip_malformed: bool,
    limit: int | None,
) -> tuple[PoolConfig, list[Instance], RunStore, int]:
    """The run's pool, questions, store and skipped-row count, every one checked (no model loads).

    Raises:
        SymbolicMoEError: a missing option, a bad pool or input file, an unusable store or unknown run.
    """
    from batching.journal.store import RunStore
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.runs.runner import check_pool, stored_pool

    if resume is None and (pool is None or input is None):
        raise ConfigError("symoe run needs --pool and --input (or --resume RUN_ID)")
    cfg = load_pool_config(pool) if pool is not None else None
    db = RunStore(store)
    db.check()  # a damaged store fails here, not after the run id is printed
    skipped = 0
    if resume is not None:
        record = db.get_run(resume)
        instances = db.instances(resume)
        cfg = cfg or stored_pool(record)
    else:
        assert input is not None  # checked above
        loaded = load_questions(input, skip_malformed=skip_malformed)
        instances = loaded.instances[:limit] if limit is not None else loaded.instances
        skipped = loaded.skipped
    assert cfg is not None  # given, or the stored run's
    check_pool(cfg)
    return cfg, instances, db, skipped


@app.command()
def profile(
    pool: Annotated[Path, typer.Option("--pool", metavar="YAML", help="Pool config")],
    input: Annotated[
        Path, typer.Option("--input", metavar="FILE", help="Validation questions with gold answers")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Profiling record (JSON) to write [default: $SYMOE_HOME/profiles/POOL.json]",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    verbose: VerboseOption = False,
    retrieval: Annotated[
        bool, typer.Option("--retrieval", help="Also profile every expert open-book (the pool's store)")
    ] = False,
) -> None:
    """Profile every expert of a pool on validation questions (the record `profiles:` points at)."""
    route_logs("profile", verbose=verbose)
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.runs.runner import profile_pool

    try:
        cfg = load_pool_config(pool)
        if out is None:
            from common.settings import home_path

            out = home_path("profiles") / f"{cfg.name}.json"
        check_out_file(out)
        instances = load_questions(input).instances
        with progress_bars(progress) as bars:
            hooks = StageBars(bars)
            record = profile_pool(cfg, instances, progress=lambda st, m, d, t: hooks.hook(st)(m, d, t),
                                  retrieval=retrieval)  # fmt: skip
        record.save(out)
    except SymbolicMoEError as exc:
        fail(exc)
    for j, e in enumerate(record.experts):
        acc = 100 * sum(r[j] for r in record.correct) / max(len(record.correct), 1)
        rag = ""
        if record.correct_rag is not None:
            open_acc = 100 * sum(r[j] for r in record.correct_rag) / max(len(record.correct), 1)
            rag = f", open-book {open_acc:.1f}%"
        console.print(f"{escape(e)}: {acc:.1f}%{rag} on {len(record.correct)} validation questions")
    console.print(f"wrote {escape(str(out))} (point a pool's `profiles:` at it)", soft_wrap=True)


def _print_run(report) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(
        title=f"{escape(report.pool)}: {report.n} questions, {report.expert_calls_per_question:.2f} calls/q"
    )
    for col in ("model", "loads", "load s", "gen tokens", "gen s", "tokens/s"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for name, m in report.models.items():
        rate = m.generated_tokens / m.generation_seconds if m.generation_seconds else 0.0
        table.add_row(
            escape(name),
            str(m.loads),
            f"{m.load_seconds:.2f}",
            str(m.generated_tokens),
            f"{m.generation_seconds:.2f}",
            f"{rate:.0f}",
        )
    console.print(table)
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in report.stage_seconds.items())
    acc = f"accuracy {report.accuracy:.2f}%; " if report.accuracy is not None else ""
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.counts.items())
    console.print(escape(f"{acc}stages: {stages}; {counts or 'no counts'}"))


def _print_retrieval(r) -> None:  # type: ignore[no-untyped-def]
    c = r.cost
    acc = {b: (f"{f.accuracy:.1f}%" if f.accuracy is not None else "-") for b, f in r.branches.items()}
    console.print(
        f"retrieval {r.mode}: rho {r.retrieval_rate:.3f} ({r.retrieved_pre} before generation, "
        f"{r.retrieved_post} after); accuracy open-book {acc['open']}, closed-book {acc['closed']}; "
        f"reasons: {escape(', '.join(f'{k} {v}' for k, v in r.reasons.items()) or 'none')}"
    )
    console.print(
        f"E[C] = C_gate + rho C_retrieve + C_experts: {c.expected_tokens:.0f} tokens, {c.expected_s:.4f}s "
        f"per question (C_gate {c.c_gate_s:.4f}s, C_retrieve {_num(c.c_retrieve_tokens)} tokens, "
        f"C_experts {_num(c.c_experts_tokens)} tokens); saving vs always-retrieve: "
        f"{_pct(r.saving_tokens)} tokens, {_pct(r.saving_s)} seconds; "
        f"its cost: {r.always_cost_source or 'n/a'}"
    )
    if r.audit is not None:
        a = r.audit
        console.print(
            f"audit ({a.questions} questions both ways): gated {_num(a.accuracy_gated)}%, closed "
            f"{_num(a.accuracy_closed)}%, open {_num(a.accuracy_open)}%, best {_num(a.accuracy_best)}%, "
            f"regret {_num(a.regret)} points (missed {a.missed}, harmed {a.harmed}, wasted {a.wasted})"
        )


def _num(x: float | None) -> str:
    return f"{x:.1f}" if x is not None else "-"


def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}%" if x is not None else "-"
