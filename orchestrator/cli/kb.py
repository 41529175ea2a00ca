"""`symoe kb add|search|stats`: build and query the knowledge store used for retrieval."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import typer
from rich.table import Table

from common.errors import ConfigError, SymbolicMoEError
from common.extras import require_extra
from orchestrator.cli.main import HELP_MARKUP, VerboseOption, app, console, fail, route_logs, wide_console
from orchestrator.cli.progress import progress_bars
from orchestrator.retrieval.config import DEFAULT_KB_DIR

kb_app = typer.Typer(
    help="Build and query the knowledge store (LanceDB).", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
app.add_typer(kb_app, name="kb")


@kb_app.callback()
def _needs_retrieval() -> None:
    try:
        require_extra("retrieval", "symoe kb")
    except SymbolicMoEError as exc:
        fail(exc)


KbOption = Annotated[str, typer.Option("--kb", help="Knowledge store: a directory, s3://... or db://...")]


def _config(kb: str, **fields: Any) -> Any:
    from orchestrator.retrieval.config import KnowledgeConfig

    return KnowledgeConfig(uri=kb, **{k: v for k, v in fields.items() if v is not None})


@kb_app.command("add")
def kb_add(
    paths: Annotated[list[str], typer.Argument(help="Files, directories, or hf:NAME[:CONFIG][@SPLIT]")],
    kb: KbOption = DEFAULT_KB_DIR,
    backend: Annotated[str, typer.Option(help="local, or ray (a Ray Data pipeline)")] = "local",
    chunk_chars: Annotated[int | None, typer.Option("--chunk-chars", help="Chunk length, characters")] = None,
    overlap: Annotated[int | None, typer.Option("--overlap", help="Chunk overlap, characters")] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Attach to this Ray cluster")
    ] = None,
    actors: Annotated[int, typer.Option(help="Ray backend: embedding actors")] = 2,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Ingest documents: new files are added, changed ones replaced, unchanged ones left as they are."""
    from pydantic import ValidationError

    from orchestrator.retrieval.ingest import IngestProgress, ingest
    from orchestrator.retrieval.store import KnowledgeStore

    if backend not in ("local", "ray"):
        fail(ConfigError(f"kb add: --backend {backend!r} is not one of local, ray"))
    try:
        cfg = _config(kb, chunk_chars=chunk_chars, chunk_overlap=overlap)
    except ValidationError as exc:
        fail(ConfigError(f"kb add: {exc.errors()[0]['msg'].removeprefix('Value error, ')}"))
    route_logs("kb-add", verbose=verbose)
    try:
        store = KnowledgeStore.open(cfg, create=True)
        with progress_bars(progress) as bars, _pipeline(store, backend, ray_address, actors) as pipeline:
            task = bars.add_task("checking", total=None) if bars is not None else None

            def hook(p: IngestProgress) -> None:
                if bars is None or task is None:
                    return
                if p.chunks_done == 0:
                    bars.update(
                        task, description="checking files", completed=p.files_done, total=p.files_total
                    )
                    return
                group = f" (commit group {p.group}/{p.groups})" if p.groups > 1 else ""
                bars.update(
                    task,
                    description=f"embedding chunks{group}",
                    completed=p.chunks_done,
                    total=p.chunks_total,
                )

            report = ingest(store, paths, pipeline=pipeline, progress=hook)
    except SymbolicMoEError as exc:
        fail(exc)
    console.print(
        f"added {len(report.added)}, replaced {len(report.replaced)}, unchanged {len(report.unchanged)}, "
        f"skipped {len(report.skipped)} sources; +{report.chunks_added} / -{report.chunks_deleted} chunks "
        f"(version {report.version_before} -> {report.version_after}, {report.seconds:.1f}s)",
        soft_wrap=True,
    )
    for reason, n in Counter(_reason_kind(s.reason) for s in report.skipped).most_common():
        console.print(f"  skipped {n}: {reason}", soft_wrap=True)
    for s in report.skipped[:20]:
        console.print(f"    {s.origin}: {s.reason}", highlight=False, soft_wrap=True)
    if len(report.skipped) > 20:
        console.print(f"    ... and {len(report.skipped) - 20} more")
    for origin, n in report.bad_rows.items():
        console.print(f"  {origin}: {n} unusable rows skipped", highlight=False, soft_wrap=True)


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(";")[0]


def _pipeline(store: Any, backend: str, address: str | None, actors: int) -> Any:
    import contextlib

    if backend == "local":
        return contextlib.nullcontext(None)
    from orchestrator.retrieval.ray_ingest import RayIngestConfig, ray_pipeline

    return ray_pipeline(store, RayIngestConfig(address=address, concurrency=actors))


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="The query")],
    kb: KbOption = DEFAULT_KB_DIR,
    k: Annotated[int, typer.Option("--k", help="Hits", min=1)] = 5,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    verbose: VerboseOption = False,
) -> None:
    """Print the best hits with their scores and sources."""
    route_logs("kb-search", verbose=verbose, announce=False)
    from orchestrator.retrieval.store import KnowledgeStore

    try:
        store = KnowledgeStore.open(_config(kb))
        (result,) = store.retrieve([query], k=k, mode=mode)  # type: ignore[arg-type]
    except SymbolicMoEError as exc:
        fail(exc)
    table = Table(title=f"{mode} search, {store.count()} chunks (version {store.version})")
    for col in ("#", "score", "dense", "bm25", "source", "title", "text"):
        table.add_column(col, justify="right" if col in ("#", "score", "dense", "bm25") else "left")
    for i, h in enumerate(result.hits, start=1):
        table.add_row(
            str(i),
            f"{h.score:.4f}",
            _fmt(h.dense_score),
            _fmt(h.bm25_score),
            h.source,
            h.title or "",
            _snippet(h.text),
        )
    wide_console().print(table)
    c = result.coverage
    console.print(
        f"coverage: top dense {_fmt(c.top_dense)} (margin {_fmt(c.dense_margin)}), "
        f"top bm25 {_fmt(c.top_bm25)} (margin {_fmt(c.bm25_margin)})"
    )


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _size(n: int | None) -> str:
    if n is None:
        return "n/a (remote)"
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@kb_app.command("stats")
def kb_stats(kb: KbOption = DEFAULT_KB_DIR) -> None:
    """Chunks, sources, versions, size on disk and index kinds."""
    from orchestrator.retrieval.store import KnowledgeStore

    try:
        s = KnowledgeStore.open(_config(kb)).stats()
    except SymbolicMoEError as exc:
        fail(exc)
    size = _size(s.size_bytes)
    table = Table(title=f"knowledge store {s.uri} (table {s.table})", show_header=False)
    for key, value in (
        ("chunks", f"{s.chunks:,}"),
        ("sources", f"{s.sources:,}"),
        ("version", f"{s.version} ({s.versions} kept)"),
        ("size on disk", size),
        ("indices", "; ".join(s.indices)),
        ("embeddings", f"{s.embedding_model} ({s.dim} dims)"),
    ):
        table.add_row(key, value)
    wide_console().print(table)
