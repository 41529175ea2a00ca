"""The skills layer on real MMLU-Pro questions and recorded model outputs from ../shared/data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.io import open_text
from common.records import Instance
from orchestrator.aggregation.choice import build_aggregation_prompt
from skills.aggregator_bench import ReasoningChain, build_bench_items
from skills.embedding import Embedder
from skills.profile import build_profiles, global_strengths
from skills.similarity_annotator import EmbeddingSkillAnnotator
from skills.vocabulary import load_vocabulary

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "mmlu_pro_recordings"
MODELS = ["Meta-Llama-3_1-8B-Instruct", "Mistral-7B-v0.1", "Qwen1.5-7B-Chat", "gemma-7b"]
LAW_SKILLS = {"legal reasoning", "jurisprudence", "criminal procedure", "civil procedure", "wills and trusts"}

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not RECORDINGS.is_dir(), reason=f"shared data not found at {RECORDINGS}"),
]


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with open_text(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    return list(_rows(RECORDINGS / "questions.jsonl.gz"))


def _math_skills(vocab: list[str]) -> set[str]:
    # The vocabulary lists the mathematics skills first, up to the physics section.
    return set(vocab[: vocab.index("classical mechanics")])


def test_embedding_annotator_finds_subject_skills(
    questions: list[dict[str, Any]], shared_embedder: Embedder
) -> None:
    vocab = load_vocabulary().skills
    annotator = EmbeddingSkillAnnotator(shared_embedder, vocab, top_n=3)
    math = [q["question"] for q in questions if q["category"] == "math"][:40]
    law = [q["question"] for q in questions if q["category"] == "law"][:40]
    math_skills, law_skills = annotator.annotate(math), annotator.annotate(law)

    math_hits = sum(bool(set(s) & _math_skills(vocab)) for s in math_skills)
    law_hits = sum(any("law" in k or k in LAW_SKILLS for k in s) for s in law_skills)
    assert math_hits >= 0.8 * len(math)
    assert law_hits >= 0.7 * len(law)


def test_profiles_and_aggregator_items_from_recordings(questions: list[dict[str, Any]]) -> None:
    sample = questions[::60][:200]
    recorded = {m: {str(r["question_id"]): r for r in _rows(RECORDINGS / f"{m}.jsonl.gz")} for m in MODELS}
    instances = [
        Instance(id=str(q["question_id"]), question=q["question"], options=q["options"], gold=q["answer"])
        for q in sample
    ]
    chains: dict[str, list[ReasoningChain]] = {}
    correctness: dict[str, list[bool]] = {m: [] for m in MODELS}
    for inst in instances:
        for m in MODELS:
            row = recorded[m].get(inst.id, {})
            ok = row.get("pred") == inst.gold
            correctness[m].append(ok)
            chains.setdefault(inst.id, []).append(
                ReasoningChain(expert=m, text=row.get("text") or "", answer=row.get("pred"), is_correct=ok)
            )

    profiles = build_profiles([[q["category"]] for q in sample], correctness, annotator="category")
    assert all(p.total == len(sample) for p in profiles.experts.values())
    assert sum(global_strengths(profiles).values()) == pytest.approx(1.0)

    items = build_bench_items(instances, chains, prompt=build_aggregation_prompt, seed=0)
    assert items, "some questions should have one right and two wrong recorded chains"
    for item in items:
        right = [c for c in chains[item.instance_id] if c.expert == item.experts[item.correct_position]]
        assert right[0].is_correct
        assert right[0].text.strip() in item.prompt
