"""`--backend ray`: ingestion as a Ray Data pipeline on a real local Ray gives the same store as local."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.store import KnowledgeStore

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ray_pipeline_matches_local_ingestion(
    open_store: Callable[..., KnowledgeStore], corpus: Path, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    from orchestrator.retrieval.ray_ingest import RayIngestConfig, ray_pipeline

    (corpus / "long.md").write_text("# Long\n\n" + "The archive of Osk keeps maps and letters. " * 60)
    (corpus / "bad.jsonl").write_text("not json\n")
    local = open_store(chunk_chars=300, chunk_overlap=30)
    local_report = ingest(local, [corpus])

    remote = open_store(uri=str(tmp_path / "kb-ray"), chunk_chars=300, chunk_overlap=30)
    was_connected = ray.is_initialized()
    with ray_pipeline(remote, RayIngestConfig(num_cpus=2, concurrency=2, actor_batch_size=4)) as pipeline:
        report = ingest(remote, [corpus], pipeline=pipeline)
    assert ray.is_initialized() == was_connected  # a Ray it started is shut down again

    assert sorted(report.added) == sorted(local_report.added) and len(report.added) == 5
    assert [s.reason for s in report.skipped] == [s.reason for s in local_report.skipped]
    assert report.bad_rows == local_report.bad_rows
    assert remote.count() == local.count() == report.chunks_added > 6
    assert {o: s.chunk_ids for o, s in remote.sources().items()} == {
        o: s.chunk_ids for o, s in local.sources().items()
    }
    (hit,) = remote.search(["Which volcano buried Osk?"], k=1, mode="hybrid")[0]
    assert hit.source == "facts#telliq" and hit.title == "Telliq"
    assert remote.search(["archive maps letters"], k=1, mode="dense")[0][0].title == "Long"
