"""`symoe run` and `symoe profile`: the whole method live over a pool, and profiling a pool."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from batching.journal.store import DEFAULT_STORE_PATH
from common.errors import ConfigError, SymbolicMoEError
from orchestrator.cli.main import app, console, fail, quiet_transformers
from orchestrator.cli.progress import RunBars, StageBars, progress_bars


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
    retrieval: Annotated[
        str | None,
        typer.Option("--retrieval", help="Retrieval mode: never, always or gated (default: the pool's)"),
    ] = None,
    retrieval_audit: Annotated[
        float | None,
        typer.Option("--retrieval-audit", help="Also answer this share of questions the other way (0-1)"),
    ] = None,
) -> None:
    """Run the full method live: annotate, recruit, retrieve (gated), experts batched per model, aggregate.

    The first line printed is ``run: <id>``; ``symoe run --resume <id>`` continues that run.
    """
    from batching.journal.store import RunStore, new_run_id
    from common.logs import configure_run_logging
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config, with_retrieval
    from orchestrator.ray.slots import ControllerConfig
    from orchestrator.runs.report import write_run
    from orchestrator.runs.runner import RunOptions, resume_run, run_pool

    configure_run_logging(os.environ.get("SYMOE_LOG_LEVEL", "WARNING"), json_lines=log_json)
    quiet_transformers()
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
        with progress_bars(progress, with_rate=True) as bars:
            hooks = RunBars(bars)
            if resume is not None and pool is None:
                cfg, report, finals = resume_run(db, resume, progress=hooks.progress, options=opts,
                                                 on_tokens=hooks.tokens)  # fmt: skip
            else:
                assert pool is not None  # checked above
                cfg = with_retrieval(load_pool_config(pool), retrieval, retrieval_audit)
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
        fail(exc)
    _print_run(report)
    if report.retrieval is not None:
        _print_retrieval(report.retrieval)
    console.print(
        f"generations: {report.generations_computed} computed, {report.generations_reused} reused; "
        f"wrote {', '.join(str(p) for p in paths)}"
    )


@app.command()
def profile(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML")],
    input: Annotated[Path, typer.Option("--input", help="Validation questions with gold answers")],
    out: Annotated[Path, typer.Option("--out", help="Profiling record JSON to write")],
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    retrieval: Annotated[
        bool, typer.Option("--retrieval", help="Also profile every expert open-book (the pool's store)")
    ] = False,
) -> None:
    """Profile every expert of a pool on validation questions (the record `profiles:` points at)."""
    from orchestrator.datasets import load_questions
    from orchestrator.pool import load_pool_config
    from orchestrator.runs.runner import profile_pool

    quiet_transformers()
    try:
        cfg = load_pool_config(pool)
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
        console.print(f"{e}: {acc:.1f}%{rag} on {len(record.correct)} validation questions")
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


def _print_retrieval(r) -> None:  # type: ignore[no-untyped-def]
    c = r.cost
    acc = {b: (f"{f.accuracy:.1f}%" if f.accuracy is not None else "-") for b, f in r.branches.items()}
    console.print(
        f"retrieval {r.mode}: rho {r.retrieval_rate:.3f} ({r.retrieved_pre} before generation, "
        f"{r.retrieved_post} after); accuracy open-book {acc['open']}, closed-book {acc['closed']}; "
        f"reasons {r.reasons}"
    )
    console.print(
        f"E[C] = C_gate + rho C_retrieve + C_experts: {c.expected_tokens:.0f} tokens, {c.expected_s:.4f}s "
        f"per question (C_gate {c.c_gate_s:.4f}s, C_retrieve {_num(c.c_retrieve_tokens)} tokens, "
        f"C_experts {_num(c.c_experts_tokens)} tokens); saving vs always-retrieve: "
        f"{_pct(r.saving_tokens)} tokens, {_pct(r.saving_s)} seconds ({r.always_cost_source or 'n/a'})"
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
