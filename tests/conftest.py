"""Fixtures shared by every test package: a clean environment, ``../shared/data``, the MiniLM model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED_DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(
            f"shared data not found at {SHARED_DATA_DIR.resolve()} (../shared/data beside the checkout)"
        )
    return SHARED_DATA_DIR.resolve()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strip SYMOE_*, OPENAI_* and HF_* variables so the developer's environment cannot leak into tests
    (and embed with the torch backend unless a test asks for another)."""
    for key in list(os.environ):
        if key.startswith(("SYMOE_", "OPENAI_", "HF_")):
            monkeypatch.delenv(key)
    # the reference embedding backend, so no test exports ONNX models into the user's cache by accident;
    # tests of the onnx backends ask for them explicitly (tests/skills/test_onnx_encoder.py)
    monkeypatch.setenv("SYMOE_EMBEDDING_BACKEND", "torch")
    yield


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The packaged all-MiniLM-L6-v2, loaded once per session (about 90 MB, a few seconds on CPU)."""
    from sentence_transformers import SentenceTransformer

    from skills.embedding import default_model_path

    return SentenceTransformer(default_model_path(), device="cpu")


@pytest.fixture(scope="session")
def session_embedder(minilm: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One all-MiniLM-L6-v2 embedder and disk cache for the session: texts several tests embed (the zoo's
    4,500-document facts KB) are embedded once per worker (tests in one xdist group share a worker)."""
    from skills.embedding import Embedder

    return Embedder(cache_dir=tmp_path_factory.mktemp("embeddings"), model=minilm, batch_size=32)


@pytest.fixture(scope="session")
def tiny_pool(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny Llama pool (random weights, local tokenizer), built once per session in a few seconds."""
    from zoo.tiny import ensure_tiny_pool

    return ensure_tiny_pool(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture
def questions_file(tmp_path: Path) -> Callable[[int], Path]:
    """Writes ``n`` four-option arithmetic questions (ids ``q0``.., answer A) to ``tmp_path/q.jsonl``.

    The file is in the ``load_questions`` format; the writer returns its path.
    """

    def write(n: int) -> Path:
        rows = [
            {
                "id": f"q{i}",
                "question": f"What is {i} plus {i + 3}?",
                "options": [str(2 * i + 3), "1", "2", "0"],
                "answer": "A",
            }
            for i in range(n)
        ]
        path = tmp_path / "q.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return path

    return write


@pytest.fixture
def damaged_store(tmp_path: Path) -> tuple[Path, str]:
    """A run store (and the id of its one run) whose pages after the first (the schema) are overwritten,
    as a bad disk or an interrupted copy leaves one: it opens, but reading a table fails."""
    from batching.journal.store import GenerationRow, RunStore
    from common.generation import GenResult
    from common.records import Instance
    from orchestrator.pool import PoolConfig

    db = tmp_path / "damaged.sqlite"
    store = RunStore(db)
    pool = PoolConfig.model_validate(
        {"name": "p", "experts": [{"name": "a", "engine": "replay"}], "aggregation": "majority"}
    )
    run_id = store.create_run(
        pool, [Instance(id=f"q{i}", question=f"q {i}?") for i in range(50)], backend="local"
    )
    rows = [
        GenerationRow(
            prompt_hash=f"h{i}",
            stage="experts",
            expert="a",
            instance_id=f"q{i}",
            result=GenResult(request_id=f"r{i}", text="x" * 200),
            seconds=0.1,
        )
        for i in range(200)
    ]
    store.record(run_id, rows)
    store.finish_run(run_id, "done", report={"generations_computed": 200})
    store.close()  # checkpoints the WAL into the file
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)
    db.write_bytes(bytes(data))
    return db, run_id


# -- grouping for pytest-xdist ------------------------------------------------------------------------
# Under `--dist loadgroup` (scripts/test.sh and CI) tests that start a local Ray run on one worker, so
# the session's Ray cluster starts once instead of once per worker; a module may name its own group.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("ray") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("ray"))


# -- test times ---------------------------------------------------------------------------------------
# SYMOE_TEST_TIMES=FILE writes one JSON line per test: wall seconds and CPU seconds of this process and of
# the child processes it waited for (a shared machine inflates wall time; CPU time shows the test's cost).
_TIMES_FILE = os.environ.get("SYMOE_TEST_TIMES")


if _TIMES_FILE:
    import resource
    import time

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
        start = (time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN))
        yield
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        row = {
            "test": item.nodeid,
            "wall": round(time.perf_counter() - start[0], 3),
            "cpu": round(time.process_time() - start[1], 3),
            "children_cpu": round(kids.ru_utime + kids.ru_stime - start[2].ru_utime - start[2].ru_stime, 3),
        }
        with open(_TIMES_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
