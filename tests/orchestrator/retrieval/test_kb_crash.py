"""A `kb add` killed with SIGKILL mid-ingest leaves the previous version queryable; the next one finishes."""

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

    def hook(p):
        if p.chunks_done:  # inside the streaming write of the one commit: slow it down to be killed
            print("embedded", p.chunks_done, flush=True)
            time.sleep(0.3)

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


@pytest.mark.slow  # a subprocess loads torch and MiniLM
def test_killed_ingest_keeps_the_previous_version_and_resumes(
    open_store: Callable[..., KnowledgeStore], kb_config: KnowledgeConfig, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    _write_docs(docs, 6, "harbour")
    store = open_store(embed_batch_size=4)
    ingest(store, [docs])
    version, count = store.version, store.count()
    ids_before = {s.origin: s.chunk_ids for s in store.sources().values()}

    _write_docs(docs, 40, "lighthouse")  # 40 new files, one commit group, 10 embedding batches
    (docs / "harbour-000.txt").write_text(
        "Document 0 was rewritten: it is about tides now."
    )  # a changed file
    cfg = kb_config.model_copy(update={"embed_batch_size": 4})
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
    for line in child.stdout:  # wait until the write is under way, then kill it
        seen.append(line.strip())
        if line.startswith("embedded") and int(line.split()[1]) >= 12:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL, seen
    assert "finished" not in seen

    after_crash = KnowledgeStore.open(store.config, embedder=store.embedder)
    assert (after_crash.version, after_crash.count()) == (version, count)
    assert {s.origin: s.chunk_ids for s in after_crash.sources().values()} == ids_before
    hit = after_crash.search(["harbour number 3"], k=1, mode="hybrid")[0][0]
    assert hit.origin.endswith("harbour-003.txt")

    report = ingest(after_crash, [docs])  # the next run does the whole job
    assert len(report.added) == 40 and len(report.replaced) == 1 and len(report.unchanged) == 5
    assert after_crash.count() == 46
    assert after_crash.search(["tides"], k=1, mode="bm25")[0][0].origin.endswith("harbour-000.txt")


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
