"""The store stays sound: one writer at a time, no duplicate chunk, content dedup, links, index coverage."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from common.errors import DataError
from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.maintenance import remove_sources, repair
from orchestrator.retrieval.readers import discover
from orchestrator.retrieval.schema import meta_table, with_vectors
from orchestrator.retrieval.store import KnowledgeStore


def _ids(store: KnowledgeStore) -> list[str]:
    store.refresh()
    return sorted(store._scan(["id"]).column("id").to_pylist())


def test_two_concurrent_adds_store_each_chunk_once(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    stores = [open_store(), open_store()]
    errors: list[BaseException] = []

    def add(store: KnowledgeStore) -> None:
        try:
            ingest(store, [corpus])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    ids = _ids(stores[0])
    assert len(ids) == len(set(ids)) == 5
    assert stores[0].stats().duplicate_rows == 0


def test_duplicates_are_reported_and_removed_by_the_next_add(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    rows = store._scan(store.table.schema.names).slice(0, 2)
    store.table.add(rows)  # what two unlocked writers of an earlier version left behind
    assert store.stats().duplicate_rows == 2
    report = ingest(store, [corpus])
    assert report.duplicates_removed == 2 and len(report.unchanged) == 4
    assert store.stats().duplicate_rows == 0 and store.count() == 5
    store.table.add(store._scan(store.table.schema.names).slice(0, 1))
    assert repair(store).duplicates_removed == 1 and store.count() == 5


def test_rows_the_index_misses_are_indexed_on_open(
    open_store: Callable[..., KnowledgeStore], corpus: Path, tmp_path: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    extra = tmp_path / "extra.txt"
    extra.write_text("The Quorvath glacier feeds three lakes.")
    # a kill between the commit and the index update: rows written, the index not updated
    from orchestrator.retrieval.ingest import chunk_file
    from orchestrator.retrieval.readers import Input, inspect_source

    checked = inspect_source(Input(str(extra), "text"), max_file_bytes=1000)
    rows = chunk_file(checked, 800, 100).rows  # type: ignore[arg-type]
    store.write({}, [with_vectors(meta_table(rows), store.embedder.embed([r.text for r in rows]), store.dim)])
    assert store.stats().unindexed_rows == 1
    reopened = KnowledgeStore.open(store.config, embedder=store.embedder)
    stats = reopened.stats()
    assert (stats.indexed_rows, stats.unindexed_rows) == (6, 0)
    assert reopened.search(["Quorvath glacier"], k=1, mode="bm25")[0][0].origin == str(extra.resolve())


def test_a_copy_adds_nothing_and_a_move_keeps_one_source(
    open_store: Callable[..., KnowledgeStore], corpus: Path, tmp_path: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    copy = corpus / "sub" / "qarth-copy.txt"
    copy.parent.mkdir()
    shutil.copy(corpus / "qarth.txt", copy)
    report = ingest(store, [corpus])
    assert report.chunks_added == 0 and store.count() == 5
    assert any(s.reason.startswith("same content as") for s in report.skipped)
    copy.unlink()
    moved = corpus / "moved-velmora.md"
    (corpus / "velmora.md").rename(moved)
    report = ingest(store, [corpus])
    assert report.moved == [(str((corpus / "velmora.md").resolve()), str(moved.resolve()))]
    assert store.count() == 5 and report.chunks_added == 0
    assert (
        str(moved.resolve()) in store.sources()
        and str((corpus / "velmora.md").resolve()) not in store.sources()
    )
    hit = store.search(["painter from Arlen"], k=1)[0][0]
    assert hit.origin == str(moved.resolve())


def test_remove_a_source_and_the_missing_ones(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    assert remove_sources(store, [str((corpus / "qarth.txt").resolve())]) == 1
    from orchestrator.retrieval.maintenance import missing_sources

    (corpus / "zorvan.html").unlink()
    assert missing_sources(store) == [str((corpus / "zorvan.html").resolve())]
    assert remove_sources(store, missing_sources(store)) == 1
    assert store.count() == 3 and len(store.sources()) == 2


def test_links_out_of_the_given_folder_are_skipped_and_reported(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "inside.txt").write_text("inside")
    os.symlink(outside, d / "p.txt")
    os.symlink(d / "sub" / "inside.txt", d / "alias.txt")
    os.symlink(tmp_path, d / "loop")
    inputs, skipped = discover([d])
    assert [Path(i.origin).name for i in inputs] == ["inside.txt"]
    reasons = {Path(s.origin).name: s.reason for s in skipped}
    assert set(reasons) == {"p.txt", "loop"}
    assert all("outside the given paths" in r for r in reasons.values())
    followed, _ = discover([d], follow_links=True)
    assert "secret.txt" in {Path(i.origin).name for i in followed}


def test_a_missing_path_fails_before_anything_is_written(
    open_store: Callable[..., KnowledgeStore], corpus: Path, tmp_path: Path
) -> None:
    store = open_store()
    version = store.version
    with pytest.raises(DataError, match="no such file or directory"):
        ingest(store, [corpus, tmp_path / "missing.txt"])
    assert store.version == version and store.count() == 0


def test_a_large_file_is_committed_in_bounded_batches(
    open_store: Callable[..., KnowledgeStore], tmp_path: Path
) -> None:
    big = tmp_path / "big.jsonl"
    big.write_text("".join(f'{{"id": "r{i}", "text": "Row {i} tells of harbour {i}."}}\n' for i in range(40)))
    store = open_store(commit_chunks=8, embed_batch_size=4)
    report = ingest(store, [big])
    assert report.commits == 5 and store.count() == 40 and store.stats().incomplete_sources == 0
