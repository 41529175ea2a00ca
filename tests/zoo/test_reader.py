"""The zoo reader: committed weights, its record, and answering facts from a passage (not without one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common.generation import GenRequest, SamplingParams
from common.records import AnswerFormat, Passage
from orchestrator.answers import extract_answer, is_correct
from orchestrator.datasets.questions import question_instance
from orchestrator.pool import load_pool_config
from orchestrator.prompts import expert_prompt
from zoo import ZOO_SPECS, ZOO_WEIGHTS_DIR, read_rows, resolve_zoo_model
from zoo.rag_splits import FACTS_KB_FILE, rag_split_path
from zoo.reader_record import READER_RECORD_FILE
from zoo.spec import READER_SPEC

REPO = Path(__file__).resolve().parents[2]
MATH = AnswerFormat(kind="math")
READER_DIR = ZOO_WEIGHTS_DIR / READER_SPEC.name


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    return json.loads((ZOO_WEIGHTS_DIR / READER_RECORD_FILE).read_text(encoding="utf-8"))


def test_reader_weights_are_committed_and_small() -> None:
    assert resolve_zoo_model("zoo:zoo-reader") == str(READER_DIR)
    assert (READER_DIR / "model.safetensors").stat().st_size < 6 * 2**20
    marker = json.loads((READER_DIR / "zoo_expert.json").read_text(encoding="utf-8"))
    assert marker["name"] == READER_SPEC.name and marker["skills"] == ["facts"]


def test_record_meets_the_test_bed_targets(record: dict[str, Any]) -> None:
    facts = record["reader_accuracy"]["facts"]
    assert facts["gold"]["overall"] >= 0.9
    assert facts["top1_bm25"]["overall"] >= 0.9 and facts["top1_bm25"]["recall_at_3"] >= 0.99
    assert facts["none"]["overall"] <= 0.05
    effect = record["context_effect"]
    assert set(effect) == {s.name for s in ZOO_SPECS} | {READER_SPEC.name}
    for spec in ZOO_SPECS:  # no zoo expert knows the fictional facts
        assert effect[spec.name]["none"]["per_skill"]["facts"] <= 0.05
    assert record["reader"]["spec"]["name"] == READER_SPEC.name


def test_rag_pool_is_the_zoo_pool_plus_the_reader() -> None:
    rag = load_pool_config(REPO / "configs" / "pools" / "zoo-rag-cpu.yaml")
    zoo = load_pool_config(REPO / "configs" / "pools" / "zoo-cpu.yaml")
    assert [m.name for m in rag.experts] == [m.name for m in zoo.experts] + [READER_SPEC.name]
    for m in rag.experts:
        assert Path(resolve_zoo_model(m.model_id), "model.safetensors").is_file()


def _answers(rows: list[dict[str, Any]], passages: list[list[dict[str, str]]]) -> list[bool]:
    from batching.config import TransformersExpertConfig
    from batching.engines.hf_engine import TransformersEngine

    prompts = [
        expert_prompt(question_instance(r, 0), [Passage(**p) for p in ps])
        for r, ps in zip(rows, passages, strict=True)
    ]
    sampling = SamplingParams(temperature=0.0, max_tokens=48)
    cfg = TransformersExpertConfig(name=READER_SPEC.name, model=str(READER_DIR), dtype="float32")
    engine = TransformersEngine(cfg)
    try:
        requests = [
            GenRequest(request_id=str(i), prompt=p, messages=(("user", p),), sampling=sampling)
            for i, p in enumerate(prompts)
        ]
        results = engine.generate(requests)
    finally:
        engine.close()
    return [
        is_correct(extract_answer(res.text, MATH), r["answer"], MATH)
        for res, r in zip(results, rows, strict=True)
    ]


def test_reader_answers_facts_from_the_passage_and_not_without_it() -> None:
    """Through the real TransformersEngine, on test-split facts questions (entities never trained on):
    right with the entity's document, wrong without a passage or with another entity's document."""
    docs = {d["id"]: d for d in read_rows(FACTS_KB_FILE)}
    rows = [r for r in read_rows(rag_split_path("test")) if r["category"] == "facts"][::10]
    ids = list(docs)
    other = [docs[ids[(ids.index(r["doc"]) + 1) % len(ids)]] for r in rows]
    with_gold = _answers(rows, [[docs[r["doc"]]] for r in rows])
    wrong_doc = _answers(rows, [[o] for o in other])
    without = _answers(rows, [[] for _ in rows])
    assert sum(with_gold) / len(rows) >= 0.8, with_gold
    assert sum(wrong_doc) / len(rows) <= 0.1, wrong_doc
    assert sum(without) / len(rows) <= 0.1, without


def test_train_reader_writes_a_loadable_model_folder(tmp_path: Path) -> None:
    """A tiny reader trains, and its folder (model, tokenizer, marker with the spec) replaces the old one."""
    import dataclasses

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from orchestrator.bench.demo import zoo_task_format
    from zoo.reader import train_reader

    fmt = zoo_task_format()
    spec = dataclasses.replace(READER_SPEC, hidden_size=32, num_layers=1, num_heads=1, intermediate_size=64,
                               steps=3, batch_size=4, train_kb_size=200, vocab_size=256)  # fmt: skip
    out = tmp_path / "zoo-reader"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    facts = train_reader(spec, fmt, out, log_every=1000)
    assert facts["steps"] == 3 and facts["examples"] == {"facts": 12}
    assert not (out / "stale.txt").exists() and not list(tmp_path.glob(".*.tmp"))
    marker = json.loads((out / "zoo_expert.json").read_text(encoding="utf-8"))
    assert marker["skills"] == ["facts"] and marker["params"] == facts["params"]
    assert marker["spec"]["hidden_size"] == 32 and marker["spec"]["steps"] == 3
    model = AutoModelForCausalLM.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) == facts["params"]
    assert len(AutoTokenizer.from_pretrained(out)) == model.config.vocab_size
