"""`symoe kb add|search|stats|remove|repair|eval`: build, query, maintain and score the knowledge store.

Every string that comes from a user's documents or paths is printed as plain text (rich ``Text``), never
as markup or emoji codes.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from common.errors import ConfigError, DataError, SymbolicMoEError
from common.extras import require_extra
from orchestrator.cli.main import HELP_MARKUP, VerboseOption, app, console, fail, route_logs, wide_console
from orchestrator.cli.progress import progress_bars
from orchestrator.retrieval.config import DEFAULT_KB_DIR, MAX_K, KnowledgeConfig

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


CHUNK_CHARS: int = KnowledgeConfig.model_fields["chunk_chars"].default
"""`kb add`'s defaults are the store config's (shown in --help)."""
CHUNK_OVERLAP: int = KnowledgeConfig.model_fields["chunk_overlap"].default


def _config(kb: str, **fields: Any) -> Any:
    from orchestrator.retrieval.config import KnowledgeConfig

    return KnowledgeConfig(uri=kb, **{k: v for k, v in fields.items() if v is not None})


@kb_app.command("add")
def kb_add(
    paths: Annotated[list[str], typer.Argument(help="Files, directories, or hf:NAME[:CONFIG][@SPLIT]")],
    kb: KbOption = DEFAULT_KB_DIR,
    backend: Annotated[str, typer.Option(help="local, or ray (a Ray Data pipeline)")] = "local",
    chunk_chars: Annotated[int, typer.Option("--chunk-chars", help="Chunk length, characters")] = CHUNK_CHARS,
    overlap: Annotated[int, typer.Option("--overlap", help="Chunk overlap, characters")] = CHUNK_OVERLAP,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", envvar="RAY_ADDRESS", help="Attach to this Ray cluster")
    ] = None,
    actors: Annotated[int, typer.Option(help="Ray backend: embedding actors")] = 2,
    follow_links: Annotated[
        bool, typer.Option("--follow-links", help="Follow symbolic links that lead outside the given paths")
    ] = False,
    max_file_mib: Annotated[
        float | None,
        typer.Option("--max-file-mib", help="Skip files larger than this (default 64)", min=0.001),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Ingest documents: new files are added, changed ones replaced, unchanged ones and copies left as they
    are, moved ones re-pointed; a killed add keeps what it committed and the next one finishes it."""
    from pydantic import ValidationError

    from orchestrator.retrieval.ingest import IngestProgress, ingest
    from orchestrator.retrieval.store import KnowledgeStore

    if backend not in ("local", "ray"):
        fail(ConfigError(f"kb add: --backend {backend!r} is not one of local, ray"))
    try:
        cfg = _config(
            kb,
            chunk_chars=chunk_chars,
            chunk_overlap=overlap,
            max_file_bytes=int(max_file_mib * 2**20) if max_file_mib is not None else None,
        )
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

            report = ingest(store, paths, pipeline=pipeline, progress=hook, follow_links=follow_links)
    except SymbolicMoEError as exc:
        fail(exc)
    _plain(
        f"added {len(report.added)}, replaced {len(report.replaced)}, moved {len(report.moved)}, "
        f"unchanged {len(report.unchanged)}, skipped {len(report.skipped)} sources; +{report.chunks_added} / "
        f"-{report.chunks_deleted} chunks in {report.commits} commits "
        f"(version {report.version_before} -> {report.version_after}, {report.seconds:.1f}s)"
    )
    if report.duplicates_removed:
        _plain(f"  removed {report.duplicates_removed} duplicate chunk rows")
    if report.index_repaired:
        _plain("  the BM25 index missed rows (an interrupted add?); indexed them")
    for old, new in report.moved:
        _plain(f"  moved: {old} -> {new}")
    for reason, n in Counter(_reason_kind(s.reason) for s in report.skipped).most_common():
        _plain(f"  skipped {n}: {reason}")
    for s in report.skipped[:20]:
        _plain(f"    {s.origin}: {s.reason}")
    if len(report.skipped) > 20:
        _plain(f"    ... and {len(report.skipped) - 20} more")
    for origin, n in report.bad_rows.items():
        _plain(f"  {origin}: {n} unusable rows skipped")


def _plain(line: str) -> None:
    """Print a line holding user text (paths, document text) as-is: no markup, emoji or highlighting."""
    console.print(Text(line), soft_wrap=True, highlight=False, emoji=False)


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(";")[0]


def _pipeline(store: Any, backend: str, address: str | None, actors: int) -> Any:
    import contextlib

    if backend == "local":
        return contextlib.nullcontext(None)
    from orchestrator.retrieval.ray_ingest import RayIngestConfig, ray_pipeline

    return ray_pipeline(store, RayIngestConfig(address=address, concurrency=actors))


KOption = Annotated[int, typer.Option("--k", help=f"Hits per query (1-{MAX_K})", min=1, max=MAX_K)]
UnitOption = Annotated[str, typer.Option("--unit", help="What k counts: documents or chunks")]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where", help="Filter: KEY=VALUE (a column or metadata field) or a SQL filter; repeatable"
    ),
]
RerankerOption = Annotated[
    str | None, typer.Option("--reranker", help="A local CrossEncoder folder to rerank the hits with")
]


@kb_app.command("search")
def kb_search(
    query: Annotated[str | None, typer.Argument(help="The query (or --queries FILE)")] = None,
    kb: KbOption = DEFAULT_KB_DIR,
    k: KOption = 5,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    unit: UnitOption = "documents",
    where: WhereOption = None,
    reranker: RerankerOption = None,
    queries: Annotated[
        str | None, typer.Option("--queries", help="A file of queries: one per line, or JSONL with 'text'")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Print the best hits with their scores and sources (one table per query; --queries for a batch)."""
    route_logs("kb-search", verbose=verbose, announce=False)
    from orchestrator.retrieval.evaluation import read_queries
    from orchestrator.retrieval.store import KnowledgeStore

    if (query is None) == (queries is None):
        fail(ConfigError("kb search: give one query or --queries FILE (not both)"))
    try:
        texts = [query] if query is not None else [q.text for q in read_queries(queries or "")]
        store = KnowledgeStore.open(_config(kb, reranker=reranker))
        results = store.retrieve(texts, k=k, mode=mode, unit=unit, where=where or None)  # type: ignore[arg-type]
    except SymbolicMoEError as exc:
        fail(exc)
    for result in results:
        _print_result(store, result, mode)


def _print_result(store: Any, result: Any, mode: str) -> None:
    title = Text(f"{mode} search, {store.count()} chunks (version {store.version})")
    if len(result.query) < 200:
        title = Text(f"{result.query!r}: ") + title
    table = Table(title=title)
    rerank = any(h.rerank_score is not None for h in result.hits)
    cols = ("#", "score", "dense", "bm25", *(("rerank",) if rerank else ()), "source", "title", "text")
    for col in cols:
        table.add_column(col, justify="left" if col in ("source", "title", "text") else "right")
    for i, h in enumerate(result.hits, start=1):
        scores = [_fmt(h.dense_score), _fmt(h.bm25_score), *([_fmt(h.rerank_score)] if rerank else [])]
        table.add_row(
            str(i), f"{h.score:.4f}", *scores, Text(h.source), Text(h.title or ""), Text(_snippet(h.text))
        )
    wide_console().print(table, emoji=False)
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
    """Chunks, sources, versions, size on disk, index kinds and coverage, duplicates."""
    from orchestrator.retrieval.store import KnowledgeStore

    try:
        s = KnowledgeStore.open(_config(kb)).stats()
    except SymbolicMoEError as exc:
        fail(exc)
    size = _size(s.size_bytes)
    covered = s.indexed_rows + s.unindexed_rows
    coverage = f"{s.indexed_rows:,} of {covered:,} rows" + (
        "" if s.unindexed_rows == 0 else f" ({s.unindexed_rows:,} not indexed: `symoe kb repair`)"
    )
    table = Table(title=Text(f"knowledge store {s.uri} (table {s.table})"), show_header=False)
    for key, value in (
        ("chunks", f"{s.chunks:,}"),
        ("sources", f"{s.sources:,}"),
        (
            "incomplete sources",
            f"{s.incomplete_sources:,}" + (" (`symoe kb add` them again)" if s.incomplete_sources else ""),
        ),
        ("duplicate rows", f"{s.duplicate_rows:,}" + (" (`symoe kb repair`)" if s.duplicate_rows else "")),
        ("version", f"{s.version} ({s.versions} kept)"),
        ("size on disk", size),
        ("indices", "; ".join(s.indices)),
        ("BM25 index covers", coverage),
        ("embeddings", f"{s.embedding_model} ({s.dim} dims)"),
    ):
        table.add_row(key, Text(value))
    wide_console().print(table, emoji=False)


@kb_app.command("remove")
def kb_remove(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Stored sources (files, folders, hf: specs)")
    ] = None,
    kb: KbOption = DEFAULT_KB_DIR,
    missing: Annotated[
        bool, typer.Option("--missing", help="Remove every source whose file is gone")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Remove sources and all their chunks (a folder removes everything stored under it)."""
    route_logs("kb-remove", verbose=verbose, announce=False)
    from orchestrator.retrieval.lock import write_lock
    from orchestrator.retrieval.maintenance import missing_sources, remove_sources, resolve_sources
    from orchestrator.retrieval.store import KnowledgeStore

    if not sources and not missing:
        fail(ConfigError("kb remove: name SOURCE... or pass --missing"))
    try:
        store = KnowledgeStore.open(_config(kb))
        with write_lock(store.config):
            store.refresh()
            origins, unknown = resolve_sources(store, sources or [])
            if unknown:
                raise DataError(
                    f"kb remove: not in the store: {', '.join(unknown[:5])}; see `symoe kb stats`"
                )
            if missing:
                origins += [o for o in missing_sources(store) if o not in origins]
            removed = remove_sources(store, origins)
    except SymbolicMoEError as exc:
        fail(exc)
    _plain(f"removed {len(origins)} sources, -{removed} chunks (version {store.version})")
    for origin in origins[:20]:
        _plain(f"  {origin}")


@kb_app.command("repair")
def kb_repair(kb: KbOption = DEFAULT_KB_DIR, verbose: VerboseOption = False) -> None:
    """Remove duplicate chunks and index every row the BM25 index misses."""
    route_logs("kb-repair", verbose=verbose, announce=False)
    from orchestrator.retrieval.maintenance import repair
    from orchestrator.retrieval.store import KnowledgeStore

    try:
        r = repair(KnowledgeStore.open(_config(kb), repair=False))
    except SymbolicMoEError as exc:
        fail(exc)
    index = "rebuilt" if r.index_repaired else "already complete"
    _plain(
        f"removed {r.duplicates_removed} duplicate rows; index {index} ({r.indexed_rows:,} rows indexed, "
        f"{r.unindexed_rows:,} not); {r.incomplete_sources} incomplete sources"
    )


@kb_app.command("eval")
def kb_eval(
    queries: Annotated[str, typer.Option("--queries", help="Queries: BEIR queries.jsonl, TSV id<TAB>text")],
    qrels: Annotated[
        str, typer.Option("--qrels", help="Judgments: BEIR TSV (query-id corpus-id score) or TREC")
    ],
    kb: KbOption = DEFAULT_KB_DIR,
    k: KOption = 10,
    mode: Annotated[str, typer.Option(help="dense, bm25 or hybrid")] = "hybrid",
    where: WhereOption = None,
    reranker: RerankerOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Score the store against relevance judgments: nDCG@10, recall@k and MRR, with latencies.

    Judgments name documents by the JSONL row ``id`` (the doc id) of the ingested corpus.
    """
    route_logs("kb-eval", verbose=verbose, announce=False)
    from orchestrator.retrieval.evaluation import evaluate, read_qrels, read_queries
    from orchestrator.retrieval.store import KnowledgeStore

    try:
        store = KnowledgeStore.open(_config(kb, reranker=reranker))
        result = evaluate(
            store,
            read_queries(queries),
            read_qrels(qrels),
            k=k,
            mode=mode,
            where=where or None,
        )
    except SymbolicMoEError as exc:
        fail(exc)
    table = Table(title=Text(f"{mode} search of {store.config.uri}, {result.queries} judged queries"))
    for col in ("nDCG@10", f"recall@{k}", "MRR", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{result.ndcg_at_10:.4f}", f"{result.recall_at_k:.4f}", f"{result.mrr:.4f}",
        f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}",
    )  # fmt: skip
    wide_console().print(table)
