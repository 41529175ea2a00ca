"""`kb add` killed with SIGKILL at any point: its commits stay, the next add equals a clean ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.store import KnowledgeStore

ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys, time
    from orchestrator.retrieval.config import KnowledgeConfig
    from orchestrator.retrieval.ingest import ingest
    from orchestrator.retrieval.store import KnowledgeStore

    cfg = KnowledgeConfig.model_validate_json(sys.argv[1])
    store = KnowledgeStore.open(cfg, create=True)
    write, append, optimize = store.write, store.append, store.optimize

    def announced(commit):
        def run(*args, **kwargs):  # each commit announced, then a pause to be killed in
            out = commit(*args, **kwargs)
            print("committed", store.count(), flush=True)
            time.sleep(0.3)
            return out
        return run

    def slow_optimize():  # every chunk committed, the index not updated yet
        print("optimizing", flush=True)
        time.sleep(5)
        optimize()

    store.write, store.append, store.optimize = announced(write), announced(append), slow_optimize

    def hook(p):
        if p.chunks_done:
            print("embedded", p.chunks_done, flush=True)
            time.sleep(0.05)

    ingest(store, [sys.argv[2]], progress=hook)
    print("finished", flush=True)
    """
)


def _write_docs(root: Path, n: int, topic: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"{topic}-{i:03d}.txt").write_text(
            f"Document {i} about {topic}: the {topic} number {i} is unique."
        )


def _snapshot(store: KnowledgeStore) -> tuple[object, ...]:
    store.refresh()
    ids = sorted(store._scan(["id"]).column("id").to_pylist())
    stats = store.stats()
    sources = {o: (s.sha256, s.chunk_ids) for o, s in store.sources().items()}
    return (
        ids,
        stats.indexed_rows,
        stats.unindexed_rows,
        stats.duplicate_rows,
        stats.incomplete_sources,
        sources,
    )


def _kill_at(cfg: KnowledgeConfig, docs: Path, when: Callable[[str], bool]) -> list[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, cfg.model_dump_json(), str(docs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if when(line):
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=120)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL, seen
    return seen


KILL_POINTS = {
    "while embedding, before any commit": lambda line: (
        line.startswith("embedded") and int(line.split()[1]) >= 4
    ),
    "between two commits": lambda line: line.startswith("committed") and int(line.split()[1]) >= 16,
    "after the last commit, before the index update": lambda line: line.startswith("optimizing"),
}


@pytest.mark.slow  # a subprocess loads torch and MiniLM
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_add_then_the_next_add_equals_a_clean_ingest(
    open_store: Callable[..., KnowledgeStore], kb_config: KnowledgeConfig, tmp_path: Path, point: str
) -> None:
    docs = tmp_path / "docs"
    _write_docs(docs, 6, "harbour")
    store = open_store(embed_batch_size=4, commit_chunks=8)
    ingest(store, [docs])
    _write_docs(docs, 30, "lighthouse")
    (docs / "harbour-000.txt").write_text("Document 0 was rewritten: it is about tides now.")
    seen = _kill_at(store.config, docs, KILL_POINTS[point])
    assert "finished" not in seen

    after = KnowledgeStore.open(store.config, embedder=store.embedder)  # opening repairs the index
    assert after.stats().duplicate_rows == 0
    hit = after.search(["harbour number 3"], k=1, mode="hybrid")[0][0]
    assert hit.origin.endswith("harbour-003.txt")  # still queryable
    ingest(after, [docs])

    clean = KnowledgeStore.open(
        kb_config.model_copy(update={"uri": str(tmp_path / "clean")}), embedder=store.embedder, create=True
    )
    ingest(clean, [docs])
    assert _snapshot(after) == _snapshot(clean)
    assert after.count() == 36
    assert after.search(["tides"], k=1, mode="bm25")[0][0].origin.endswith("harbour-000.txt")


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_an_old_version_stays_readable(
    open_store: Callable[..., KnowledgeStore], tmp_path: Path, mode: str
) -> None:
    docs = tmp_path / "docs"
    _write_docs(docs, 3, "harbour")
    store = open_store()
    ingest(store, [docs])
    first = store.version
    (docs / "harbour-001.txt").write_text("Now about mountains.")
    ingest(store, [docs])
    old = KnowledgeStore.open(store.config, embedder=store.embedder, version=first)
    assert old.version == first
    assert "harbour number 1" in old.search(["harbour number 1"], k=1, mode=mode)[0][0].text  # type: ignore[arg-type]
