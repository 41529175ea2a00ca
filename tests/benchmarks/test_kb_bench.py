"""The knowledge-store benchmark on a tiny corpus: structure of the record, recall in range, entrypoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.tools.kb import KbBenchConfig, KbBenchResult, kb_tables, random_unit_vectors
from orchestrator.retrieval.synthetic import synthetic_corpus, synthetic_queries

REPO = Path(__file__).resolve().parents[2]


def test_synthetic_corpus_and_queries_are_seeded_and_distinct() -> None:
    corpus = synthetic_corpus(300, seed=3)
    assert corpus == synthetic_corpus(300, seed=3)
    assert len({d["title"] for d in corpus}) == 300 and len({d["id"] for d in corpus}) == 300
    queries = synthetic_queries(corpus, 9, seed=4)
    assert [q.style for q in queries[:3]] == ["name", "typo", "describe"]
    by_id = {d["id"]: d for d in corpus}
    assert by_id[queries[0].target]["title"] in queries[0].text
    assert by_id[queries[1].target]["title"] not in queries[1].text  # the typo
    vecs = random_unit_vectors(5, 8, seed=0)
    assert vecs.shape == (5, 8) and abs(float((vecs**2).sum(axis=1).max()) - 1) < 1e-5


def test_kb_bench_measures_every_mode(tmp_path: Path) -> None:
    """Run in a child process: bm25s imports numba, and vLLM 0.32 cannot start an in-process engine in a
    process that imported llvmlite (its kernel-override scan trips over llvmlite's ffi object), which
    the vLLM tests later in this session would do."""
    cfg = KbBenchConfig(small_n=60, large_n=150, queries=9, warmup=2, k=5, workdir=str(tmp_path))
    code = (
        "import sys; from benchmarks.tools.kb import KbBenchConfig, run_kb_bench; "
        "cfg = KbBenchConfig.model_validate_json(sys.argv[1]); print(run_kb_bench(cfg).model_dump_json())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, cfg.model_dump_json()], capture_output=True, text=True,
                         env=env, check=True, timeout=600)  # fmt: skip
    result = KbBenchResult.model_validate_json(out.stdout.strip().splitlines()[-1])
    small, large = result.sizes
    assert (small.passages, large.passages) == (60, 150)
    assert small.ingest.vectors == "minilm" and small.ingest.embed_per_s and small.ingest.dense_per_s
    assert large.ingest.vectors == "random" and large.ingest.embed_per_s is None
    modes = ["query embedding (MiniLM)", "dense", "bm25 (LanceDB FTS)", "bm25s", "hybrid"]
    assert [m.mode for m in small.modes] == [m.mode for m in large.modes] == modes
    assert small.modes[0].recall is None and small.modes[0].p50_ms > 0
    for m in small.modes[1:]:
        assert m.recall is not None and 0 <= m.recall <= 1 and m.p99_ms >= m.p50_ms > 0
        assert set(m.recall_by_style) == {"name", "typo", "describe"}
    assert small.modes[2].recall_by_style["name"] == 1.0  # the exact name is always found by BM25
    assert [m.recall is None for m in large.modes] == [True, True, False, False, True]
    assert any("RANDOM" in n for n in result.notes)
    assert len(kb_tables(result)) == 2


@pytest.mark.slow
def test_kb_bench_entrypoint_writes_json(tmp_path: Path) -> None:
    """The script as a user runs it (a child process, for the same reason as above)."""
    out = tmp_path / "kb.json"
    args = ["--small-n", "30", "--large-n", "0", "--queries", "3", "--warmup", "0", "--output-json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = str(REPO / "benchmarks" / "kb_bench.py")
    run = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["name"] == "kb_bench" and record["config"]["small_n"] == 30 and len(record["sizes"]) == 1
    assert "knowledge store ingestion" in run.stdout
