"""The recall test bed's data: its splits (half known entities, half unknown) and the recall experts' mix."""

from __future__ import annotations

import collections
from dataclasses import replace

import pytest

from orchestrator.datasets.questions import load_questions
from zoo import read_rows
from zoo.facts import FACTS_KB_SEED, FACTS_KB_SIZE, FactsEntity, generate_kb, iter_questions
from zoo.rag_splits import zoo_rag_splits
from zoo.recall import RecallExamples
from zoo.recall_splits import RECALL_PER_SPLIT, known_entities, recall_split_path, recall_splits
from zoo.spec import RECALL_SPECS, zoo_model_dir


@pytest.fixture(scope="module")
def kb() -> list[FactsEntity]:
    return generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE)


def test_committed_recall_splits_equal_regeneration_half_known_and_disjoint(kb: list[FactsEntity]) -> None:
    splits = recall_splits(kb)
    known_docs = {e.doc_id for e in known_entities(kb)}
    assert len(known_docs) == sum(RECALL_PER_SPLIT.values())
    rag_docs = {r["doc"] for rows in zoo_rag_splits(kb).values() for r in rows if "doc" in r}
    seen: set[str] = set()
    for name, n_known in RECALL_PER_SPLIT.items():
        rows = read_rows(recall_split_path(name))
        assert rows == splits[name]
        assert len(load_questions(recall_split_path(name)).instances) == len(rows)
        assert collections.Counter(r["known"] for r in rows) == {True: n_known, False: n_known}
        docs = {r["doc"] for r in rows}
        assert len(docs) == len(rows) and not docs & seen and not docs & rag_docs
        assert {r["doc"] for r in rows if r["known"]} <= known_docs
        assert not {r["doc"] for r in rows if not r["known"]} & known_docs
        assert {r["category"] for r in rows} == {"facts"}
        seen |= docs


def test_every_known_question_is_a_form_the_recall_experts_learn(kb: list[FactsEntity]) -> None:
    forms = {q: a for e in known_entities(kb) for q, a in iter_questions(e)}
    for rows in recall_splits(kb).values():
        for r in rows:
            if r["known"]:
                assert forms[r["question"]] == r["answer"]
            else:
                assert r["question"] not in forms


def test_recall_mix_is_seeded_sees_every_fact_each_epoch_and_keeps_reading(kb: list[FactsEntity]) -> None:
    spec = replace(RECALL_SPECS[0], closed_share=0.6, open_share=0.1)
    known = known_entities(kb)
    first, again = RecallExamples(spec, known), RecallExamples(spec, known)
    draw = first.draw(400)
    assert [(e.question, e.passages) for e in draw] == [(e.question, e.passages) for e in again.draw(400)]
    other = RecallExamples(RECALL_SPECS[1], known).draw(400)
    assert [e.question for e in other] != [e.question for e in draw]  # another seed, another order
    closed = [e for e in draw if not e.passages]
    assert 0.5 < len(closed) / len(draw) < 0.7
    everything = RecallExamples(replace(spec, closed_share=1.0, open_share=0.0), known)
    epoch = everything.draw(everything.n_facts)
    assert len({e.question.question for e in epoch}) == everything.n_facts  # each form once per epoch
    names = {e.name for e in known}
    reading = [e for e in draw if e.passages and not any(n in e.question.question for n in names)]
    assert reading and all(e.passages for e in reading)  # the reader's own examples about fresh entities


def test_the_recall_experts_are_zoo_models() -> None:
    for spec in RECALL_SPECS:
        assert zoo_model_dir(spec.name).name == spec.name
