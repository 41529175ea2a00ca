"""Fixtures of the retrieval tests: the zoo pool with a facts store, profiled closed- and open-book."""

from __future__ import annotations

from typing import Any

import pytest
from rag_helpers import ZOO_POOL, facts_rows, write_facts_kb, write_rows, zoo_rows

from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.rag.config import GateConfig, RetrievalConfig
from orchestrator.retrieval.config import KnowledgeConfig
from orchestrator.runs.runner import profile_pool
from skills.embedding import Embedder

VALIDATION_FACTS = ("veltrin", "quist", "zorvan", "telliq", "brenna")
TEST_FACTS = ("drell", "mirren", "osk")


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> dict[str, Any]:
    """The zoo pool with a facts store, profiled both ways on 6 questions per skill and 5 facts questions."""
    tmp = tmp_path_factory.mktemp("rag")
    embedder = Embedder(cache_dir=tmp / "emb", model=minilm)
    kb = write_facts_kb(tmp / "facts.jsonl")
    retrieval = RetrievalConfig(
        mode="gated",
        store=KnowledgeConfig(uri=str(tmp / "kb")),
        documents=[str(kb)],
        k=2,
        gate=GateConfig(min_gain=-0.5, min_skill_questions=5),
    )
    pool = load_pool_config(ZOO_POOL).model_copy(update={"retrieval": retrieval})
    val = write_rows(tmp / "val.jsonl", zoo_rows("validation", 6) + facts_rows(VALIDATION_FACTS, "v"))
    record = profile_pool(pool, load_questions(val).instances, embedder=embedder, retrieval=True)
    record.save(tmp / "profiles.json")
    test = write_rows(tmp / "test.jsonl", zoo_rows("test", 2) + facts_rows(TEST_FACTS, "t"))
    return {
        "tmp": tmp,
        "embedder": embedder,
        "pool": pool.model_copy(update={"profiles": str(tmp / "profiles.json")}),
        "record": record,
        "test": load_questions(test).instances,
    }
