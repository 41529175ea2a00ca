"""Search a user can tune: k in documents, titles and metadata searched and filtered, batch queries, eval."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from common.errors import ConfigError
from orchestrator.cli import app
from orchestrator.retrieval.evaluation import Query, ndcg, read_qrels, read_queries, recall, reciprocal_rank
from orchestrator.retrieval.filters import where_sql
from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.store import KnowledgeStore


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A long document (many chunks about harbours) and short ones with titles and metadata."""
    root = tmp_path / "library"
    root.mkdir()
    (root / "long.txt").write_text(
        " ".join(f"Harbour fact {i}: the harbour of Osk has a pier." for i in range(60))
    )
    rows = [
        {
            "id": "z1",
            "title": "Zebra Serengeti",
            "text": "Striped grazers on a plain.",
            "lang": "en",
            "year": 2020,
        },
        {
            "id": "z2",
            "title": "Harbour guide",
            "text": "A harbour with ships, a pier.",
            "lang": "fr",
            "year": 2021,
        },
        {
            "id": "z3",
            "title": "Harbour history",
            "text": "The old harbour pier rebuilt.",
            "lang": "en",
            "year": 2019,
        },
    ]
    (root / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def test_k_counts_documents_by_default(open_store: Callable[..., KnowledgeStore], library: Path) -> None:
    store = open_store(chunk_chars=200, chunk_overlap=20)
    ingest(store, [library])
    assert store.count() > 10
    docs = store.search(["harbour pier"], k=3, mode="bm25")[0]
    assert len({(h.origin, h.doc_id) for h in docs}) == len(docs) == 3
    chunks = store.search(["harbour pier"], k=3, mode="bm25", unit="chunks")[0]
    assert len({(h.origin, h.doc_id) for h in chunks}) < 3


def test_titles_and_metadata_are_searched_and_filtered(
    open_store: Callable[..., KnowledgeStore], library: Path
) -> None:
    store = open_store()
    ingest(store, [library])
    (hit,) = store.search(["zebra serengeti"], k=1, mode="bm25")[0]
    assert hit.doc_id == "z1"
    en = store.search(["harbour pier"], k=5, mode="hybrid", where=["lang=en"])[0]
    assert {h.doc_id for h in en} == {"z1", "z3"}
    newer = store.search(["harbour"], k=5, mode="dense", where=["json_get_int(metadata, 'year') >= 2020"])[0]
    assert {h.doc_id for h in newer} == {"z1", "z2"}
    not_rows = store.search(
        ["harbour"], k=5, mode="bm25", where=[f"origin!={library.resolve() / 'rows.jsonl'}"]
    )[0]
    assert {h.doc_id for h in not_rows} == {str((library / "long.txt").resolve())}
    with pytest.raises(ConfigError, match="filter"):
        store.search(["harbour"], k=1, mode="bm25", where=["no_such_column > 3"])
    with pytest.raises(ConfigError, match="k=1000000000000 must be between 1 and 1000"):
        store.search(["harbour"], k=1_000_000_000_000)


def test_where_terms_become_quoted_sql() -> None:
    assert where_sql(["lang=en", "source!=a'b"]) == (
        "(json_get_string(metadata, 'lang') = 'en') AND (source != 'a''b')"
    )
    assert where_sql([]) is None
    assert "json_get_int(metadata, 'year') = 2020" in str(where_sql(["year=2020"]))


def test_metrics_on_a_hand_ranking() -> None:
    judged = {"a": 1.0, "b": 1.0}
    assert ndcg(["a", "b", "c"], judged) == pytest.approx(1.0)
    assert ndcg(["c", "a"], judged) == pytest.approx((1 / 1.5849625) / (1 + 1 / 1.5849625))
    assert recall(["c", "a"], judged, 2) == 0.5 and reciprocal_rank(["c", "x", "b"], judged) == pytest.approx(
        1 / 3
    )


def test_query_and_qrels_formats(tmp_path: Path) -> None:
    (tmp_path / "q.jsonl").write_text('{"_id": "1", "text": "first"}\n{"id": 2, "text": "second"}\n')
    (tmp_path / "q.txt").write_text("plain one\n\nplain two\n")
    (tmp_path / "beir.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    (tmp_path / "trec.txt").write_text("1 0 d1 2\n2 0 d3 1\n")
    assert read_queries(str(tmp_path / "q.jsonl")) == [Query("1", "first"), Query("2", "second")]
    assert [q.id for q in read_queries(str(tmp_path / "q.txt"))] == ["q1", "q3"]
    assert read_qrels(str(tmp_path / "beir.tsv")) == {"1": {"d1": 1.0, "d2": 0.0}}
    assert read_qrels(str(tmp_path / "trec.txt")) == {"1": {"d1": 2.0}, "2": {"d3": 1.0}}


def test_cli_batch_search_and_eval(library: Path, tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    assert runner.invoke(app, ["kb", "add", str(library), "--kb", kb, "--no-progress"]).exit_code == 0
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"_id": "q1", "text": "zebra serengeti"}\n{"_id": "q2", "text": "old harbour pier rebuilt"}\n'
    )
    batch = runner.invoke(app, ["kb", "search", "--queries", str(queries), "--kb", kb, "--k", "2"])
    assert batch.exit_code == 0, batch.output
    assert batch.output.count("coverage:") == 2 and "Zebra Serengeti" in batch.output
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tz1\t1\nq2\tz3\t1\n")
    scored = runner.invoke(app, ["kb", "eval", "--queries", str(queries), "--qrels", str(qrels), "--kb", kb])
    assert scored.exit_code == 0, scored.output
    assert "nDCG@10" in scored.output and "p99 ms" in scored.output and "1.0000" in scored.output
    too_big = runner.invoke(app, ["kb", "search", "x", "--kb", kb, "--k", "1000000000000"])
    assert too_big.exit_code == 2 and "Traceback" not in too_big.output
