"""Ingestion: idempotent, changed files replaced in one commit, bad inputs counted, commit groups."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.retrieval.ingest import IngestProgress, commit_groups, ingest
from orchestrator.retrieval.readers import Checked
from orchestrator.retrieval.store import KnowledgeStore


def test_same_files_twice_add_nothing(open_store: Callable[..., KnowledgeStore], corpus: Path) -> None:
    store = open_store()
    events: list[IngestProgress] = []
    first = ingest(store, [corpus], progress=events.append)
    assert len(first.added) == 4 and first.chunks_added == 5 and not first.skipped
    assert events[-1] == IngestProgress(
        files_done=4, files_total=4, chunks_done=5, chunks_total=5, group=1, groups=1
    )
    sources = store.sources()
    assert set(sources) == {
        str((corpus / n).resolve()) for n in ("velmora.md", "zorvan.html", "qarth.txt", "facts.jsonl")
    }
    assert len(sources[str((corpus / "facts.jsonl").resolve())].chunk_ids) == 2
    version = store.version
    second = ingest(store, [corpus, corpus / "qarth.txt"])
    assert (second.added, second.replaced, second.chunks_added, second.chunks_deleted) == ([], [], 0, 0)
    assert len(second.unchanged) == 4 and store.version == version == second.version_after


def test_changed_file_replaces_its_chunks_in_one_commit(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    path = corpus / "qarth.txt"
    old = store.sources()[str(path.resolve())]
    before = store.version
    path.write_text("Qarth is a mountain province that exports salt and wool. " * 30)  # now several chunks
    report = ingest(store, [corpus])
    assert report.replaced == [str(path.resolve())] and len(report.unchanged) == 3
    new = store.sources()[str(path.resolve())]
    assert new.sha256 != old.sha256 and not set(new.chunk_ids) & set(old.chunk_ids)
    assert report.chunks_deleted == 1 and report.chunks_added == len(new.chunk_ids) > 1
    assert store.count() == 4 + len(new.chunk_ids)
    # the write itself is one version (deletes and inserts together); the index update adds the rest
    written = [v for v in store.versions() if v.version > before]
    assert written[0].rows == store.count()
    assert store.search(["salt and wool exports"], k=1, mode="bm25")[0][0].origin == str(path.resolve())
    assert store.search(["copper mines"], k=5, mode="bm25")[0] == []  # the old text is gone


def test_bad_inputs_are_reported_and_counted(
    open_store: Callable[..., KnowledgeStore], tmp_path: Path
) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.txt").write_text("A perfectly good document about lighthouses.")
    (d / "empty.txt").write_text("")
    (d / "binary.txt").write_bytes(b"\x00\x01\x02" * 10)
    (d / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (d / "huge.md").write_text("y " * 3000)
    (d / "rows.jsonl").write_text('{"text": "Row one."}\nnot json\n{"no_text": 1}\n')
    (d / "norows.jsonl").write_text("[1, 2]\n")
    report = ingest(open_store(max_file_bytes=5000), [d])
    assert sorted(Path(o).name for o in report.added) == ["good.txt", "rows.jsonl"]
    reasons = {Path(s.origin).name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt", "huge.md", "norows.jsonl"}
    assert reasons["huge.md"].startswith("too large") and reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["norows.jsonl"].startswith("no usable rows (1 bad; first: line 1: a list")
    assert report.bad_rows == {str((d / "rows.jsonl").resolve()): 2, str((d / "norows.jsonl").resolve()): 1}


def test_a_file_whose_new_content_has_no_text_loses_its_chunks(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store()
    ingest(store, [corpus])
    (corpus / "facts.jsonl").write_text("not json at all\n")
    report = ingest(store, [corpus])
    (skip,) = report.skipped
    assert skip.reason.endswith("its previous chunks were removed") and report.chunks_deleted == 2
    assert str((corpus / "facts.jsonl").resolve()) not in store.sources()


def test_commit_groups_hold_whole_files_up_to_the_budget() -> None:
    items = [
        Checked(origin=f"f{i}", kind="text", sha256="0" * 64, size_bytes=size)
        for i, size in enumerate([5, 5, 20, 1, 1, 1])
    ]
    groups = commit_groups(items, commit_bytes=10)
    assert [[c.origin for c in g] for g in groups] == [["f0", "f1"], ["f2"], ["f3", "f4", "f5"]]


def test_small_commit_groups_give_one_version_each(
    open_store: Callable[..., KnowledgeStore], corpus: Path
) -> None:
    store = open_store(commit_bytes=1, chunk_chars=200, chunk_overlap=20)
    before = store.version
    report = ingest(store, [corpus])
    assert report.chunks_added == store.count() >= 5
    assert store.version - before >= 4  # four groups, then the index update
