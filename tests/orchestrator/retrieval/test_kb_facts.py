"""The zoo's synthetic facts KB: ingested whole, an entity's name finds its document at rank 1 (hybrid)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.retrieval.ingest import ingest
from orchestrator.retrieval.store import KnowledgeStore

FACTS_KB = Path(__file__).resolve().parents[3] / "zoo" / "data" / "facts_kb.jsonl"


@pytest.mark.slow  # embeds 4,500 documents, once for this and the zoo retrieval bench (one xdist group)
@pytest.mark.xdist_group("facts-kb")
def test_entity_names_find_their_documents(open_store: Callable[..., KnowledgeStore]) -> None:
    if not FACTS_KB.is_file():
        pytest.skip(f"{FACTS_KB} not generated yet (the zoo's facts KB)")
    rows = [json.loads(line) for line in FACTS_KB.read_text().splitlines() if line.strip()]
    store = open_store()
    report = ingest(store, [FACTS_KB])
    assert report.added == [str(FACTS_KB)] and not report.skipped and not report.bad_rows
    sample = random.Random(0).sample(rows, 100)
    first = {}
    for mode in ("bm25", "dense", "hybrid"):
        results = store.search([r["title"] for r in sample], k=3, mode=mode)  # type: ignore[arg-type]
        first[mode] = sum(hits[0].doc_id == str(r["id"]) for r, hits in zip(sample, results, strict=True))
        in_top3 = sum(
            any(h.doc_id == str(r["id"]) for h in hits) for r, hits in zip(sample, results, strict=True)
        )
        assert in_top3 >= 95, (mode, in_top3)
    # Alone, BM25 and dense sometimes rank first a shorter document that mentions the name (a person
    # born in the town); fused, the entity's own document is first every time.
    assert first["hybrid"] == len(sample), first
    assert min(first["bm25"], first["dense"]) >= 85, first
