"""The retrieval test bed's data: the facts knowledge base, facts questions, and the zoo_rag splits."""

from __future__ import annotations

import collections
import random
import re

import pytest

from common.records import AnswerFormat
from orchestrator.answers import extract_answer, is_correct
from orchestrator.datasets.questions import load_questions
from zoo import ZOO_DATA_DIR, read_rows, zoo_splits
from zoo.facts import (
    FACTS_KB_SEED,
    FACTS_KB_SIZE,
    KINDS,
    facts_question,
    generate_kb,
    iter_questions,
    kb_rows,
)
from zoo.rag_splits import FACTS_KB_FILE, FACTS_PER_SPLIT, facts_split, rag_split_path, zoo_rag_splits
from zoo.reader_data import ReaderExamples, retrieval_index
from zoo.tasks import answer_text

MATH = AnswerFormat(kind="math")


@pytest.fixture(scope="module")
def kb() -> list:
    return generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE)


def test_kb_is_seeded_and_deterministic() -> None:
    a, b = generate_kb(5, 300), generate_kb(5, 300)
    assert a == b
    assert generate_kb(6, 300) != a
    assert collections.Counter(e.kind for e in a).keys() == set(KINDS)


def test_committed_kb_equals_regeneration(kb: list) -> None:
    assert read_rows(FACTS_KB_FILE) == kb_rows(kb)
    assert FACTS_KB_FILE.stat().st_size < 1.2 * 2**20
    assert 3000 <= len(kb) <= 5000


def test_names_ids_and_stems_are_unique_and_distinct(kb: list) -> None:
    assert len({e.name for e in kb}) == len(kb)
    assert len({e.doc_id for e in kb}) == len(kb)
    stems = [e.name.split()[-1 if e.kind == "person" else 0].lower() for e in kb]
    assert len(set(stems)) == len(stems)
    # any two stems are at least two edits apart: no two share a one-deletion variant
    seen: dict[str, str] = {}
    for stem in stems:
        for v in {stem} | {stem[:i] + stem[i + 1 :] for i in range(len(stem))}:
            assert seen.setdefault(v, stem) == stem, (stem, seen[v])


def test_documents_state_every_answer(kb: list) -> None:
    for e in kb[::7]:
        doc = e.document()
        assert doc["source"] == f"facts/{doc['id']}"
        assert 2 <= doc["text"].count(".") <= 4
        for _, gold in e.answers:
            plain = re.sub(r"\\text\{(.*)\}", r"\1", gold)
            assert plain in doc["text"], (plain, doc["text"])


def test_facts_answers_score_with_the_projects_comparison(kb: list) -> None:
    """Numbers and names in \\text{} compare exactly: no anagram, neighbour year or other name matches."""
    rng = random.Random(0)
    for e in kb[::50]:
        q = facts_question(e, rng)
        assert q.skill == "facts"
        reply = extract_answer(answer_text(q.answer), MATH)
        assert is_correct(reply, q.answer, MATH)
        if q.answer.isdigit():
            assert not is_correct(str(int(q.answer) + 1), q.answer, MATH)
        else:
            name = q.answer[len("\\text{") : -1]
            swapped = " ".join(reversed(name.split())) if " " in name else name[::-1]
            assert not is_correct(f"\\text{{{swapped}}}", q.answer, MATH)
    assert is_correct("\\text{Veltrin}", "\\text{Veltrin}", MATH)
    assert not is_correct("\\text{Veltrin}", "\\text{Tlevrin}", MATH)


def test_bm25_finds_the_document_of_every_question(kb: list) -> None:
    """Names are distinctive: BM25 ranks the answering document first for (nearly) every question."""
    docs = kb_rows(kb)
    index = retrieval_index(docs)
    sample = [(q, i) for i, e in enumerate(kb[::9]) for q, _ in iter_questions(e)]
    top1 = [index.top_k(q, 3) for q, _ in sample]
    hits1 = sum(r[0][0] == i * 9 for r, (_, i) in zip(top1, sample, strict=True))
    hits3 = sum(i * 9 in [j for j, _ in r] for r, (_, i) in zip(top1, sample, strict=True))
    assert hits1 / len(sample) >= 0.98 and hits3 / len(sample) >= 0.995


def test_committed_rag_splits_equal_regeneration_and_keep_the_zoo_rows(kb: list) -> None:
    splits = zoo_rag_splits(kb)
    zoo = zoo_splits()
    for name, n_facts in FACTS_PER_SPLIT.items():
        rows = read_rows(rag_split_path(name))
        assert rows == splits[name]
        assert rows[: len(zoo[name])] == zoo[name]  # the zoo split, unchanged, comes first
        assert rows == zoo[name] + facts_split(kb)[name]
        facts = [r for r in rows if r["category"] == "facts"]
        assert len(facts) == n_facts and abs(n_facts / len(rows) - 0.3) < 1e-9
        assert len({r["doc"] for r in facts}) == n_facts
        assert len(load_questions(rag_split_path(name)).instances) == len(rows)
    docs = [{r["doc"] for r in splits[n] if r["category"] == "facts"} for n in FACTS_PER_SPLIT]
    assert not docs[0] & docs[1]
    assert read_rows(ZOO_DATA_DIR / "zoo_test.jsonl") == zoo["test"]


def test_facts_rows_are_answered_by_their_document(kb: list) -> None:
    by_id = {e.doc_id: e for e in kb}
    for row in zoo_rag_splits(kb)["test"]:
        if row["category"] == "facts":
            e = by_id[row["doc"]]
            assert row["answer"] in dict(e.answers).values()
            assert e.name in row["question"]


def test_reader_examples_are_seeded_and_hold_the_right_passage() -> None:
    train_kb = generate_kb(101, 600)
    draw = lambda: ReaderExamples(train_kb, random.Random(3)).draw(200)  # noqa: E731
    examples = draw()
    assert examples == draw()
    by_name = {e.name: e for e in train_kb}
    n_passages = collections.Counter(len(x.passages) for x in examples if x.question.skill == "facts")
    assert set(n_passages) == {1, 2, 3}
    ranks = collections.Counter()
    for x in examples:
        if x.question.skill != "facts":
            continue
        entity = next(e for n, e in by_name.items() if n in x.question.question)
        ids = [p["id"] for p in x.passages]
        assert ids.count(entity.doc_id) == 1 and len(set(ids)) == len(ids)
        ranks[ids.index(entity.doc_id)] += 1
    assert ranks[0] > ranks[1] > 0 and ranks[2] > 0
    assert {x.question.skill for x in examples} - {"facts"}  # some zoo-skill examples too
