"""Training examples of the zoo reader: facts questions with retrieved passages, as a live run shows them.

The reader learns to answer from the passage whose subject the question names. Its examples come from
a seeded knowledge base of the same generator as the committed one but another seed (fresh fictional
entities, so the reader cannot memorise the committed base's facts and stays near 0% without a
passage). Each question gets 1-3 passages ranked as a retriever would rank them: the right document
first most of the time, sometimes second or third behind distractors, which are the question's next
BM25 hits (documents sharing its words: a bridge in the town asked about, another lighthouse) or, less
often, random documents. A minority of examples are the other zoo skills, with or without irrelevant
passages, so the reader keeps the ``\\boxed{}`` format everywhere.

Passages are knowledge-base rows (``{"id", "title", "text", "source"}``); how they are rendered into a
prompt belongs to the orchestrator (``ZooTaskFormat.render_passages``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zoo.bm25 import BM25Index
from zoo.facts import FactsEntity, facts_question
from zoo.tasks import SKILLS, ZooQuestion, generate_question

__all__ = ["NoiseSpec", "ReaderExample", "ReaderExamples", "doc_text", "retrieval_index"]

KB_FILE_SOURCE = "zoo/data/facts_kb.jsonl"
"""The other ``source`` a store may give a passage (the file it was ingested from), for robustness."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NoiseSpec:
    """How retrieved passages are drawn for one training example.

    Attributes:
        n_passages_weights: relative weights of 1, 2 and 3 passages.
        gold_rank_weights: relative weights of the right passage at rank 1, 2 and 3 (capped by the count).
        bm25_distractor: probability that a distractor is the question's next BM25 hit (else random).
        file_source: probability that passages carry the knowledge-base file as source, not their id.
        skill_fraction: share of examples that are other zoo skills instead of facts.
        skill_context: probability that such an example gets 1-3 irrelevant passages.
    """

    n_passages_weights: tuple[float, float, float] = (0.25, 0.25, 0.5)
    gold_rank_weights: tuple[float, float, float] = (0.6, 0.25, 0.15)
    bm25_distractor: float = 0.75
    file_source: float = 0.15
    skill_fraction: float = 0.15
    skill_context: float = 0.5


@dataclass(frozen=True, slots=True)
class ReaderExample:
    """One training example: a question, the passages in its prompt (ranked), and the gold answer."""

    question: ZooQuestion
    passages: tuple[dict[str, str], ...]

    def row(self) -> dict[str, Any]:
        """The question as a zoo row (``load_questions`` format)."""
        q = self.question
        return {"question": q.question, "answer": q.answer, "category": q.skill, "kind": "math"}


def doc_text(doc: dict[str, str]) -> str:
    """What the retriever indexes of a document: its title and text."""
    return f"{doc['title']}. {doc['text']}"


def retrieval_index(docs: Sequence[dict[str, str]]) -> BM25Index:
    """A BM25 index over knowledge-base rows (titles and texts)."""
    return BM25Index([doc_text(d) for d in docs])


class ReaderExamples:
    """An endless seeded stream of reader training examples over ``entities``.

    Args:
        entities: the training knowledge base (never the committed one).
        rng: the random source (advanced by every draw).
        noise: how passages are drawn.
        exclude: question texts never to emit (held-out zoo questions).
    """

    def __init__(
        self,
        entities: Sequence[FactsEntity],
        rng: random.Random,
        noise: NoiseSpec = NoiseSpec(),
        exclude: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self._entities = list(entities)
        self._docs = [e.document() for e in self._entities]
        self._index = retrieval_index(self._docs)
        self._rng, self._noise, self._exclude = rng, noise, exclude

    def draw(self, n: int) -> list[ReaderExample]:
        """The next ``n`` examples."""
        return [self._one() for _ in range(n)]

    def _one(self) -> ReaderExample:
        if self._rng.random() < self._noise.skill_fraction:
            return self._skill_example()
        i = self._rng.randrange(len(self._entities))
        question = facts_question(self._entities[i], self._rng)
        n = self._rng.choices((1, 2, 3), self._noise.n_passages_weights)[0]
        rank = self._rng.choices((0, 1, 2)[:n], self._noise.gold_rank_weights[:n])[0]
        ranked = [j for j, _ in self._index.top_k(question.question, 8) if j != i]
        others = self._distractors(ranked, exclude=i, n=n - 1)
        order = [*others[:rank], i, *others[rank:]]
        return ReaderExample(question, self._passages(order))

    def _distractors(self, ranked: list[int], *, exclude: int, n: int) -> list[int]:
        """``n`` distinct distractors, each the next BM25 hit or (sometimes) a random document."""
        out: list[int] = []
        while len(out) < n:
            if ranked and self._rng.random() < self._noise.bm25_distractor:
                j = ranked.pop(0)
            else:
                j = self._rng.randrange(len(self._docs))
            if j != exclude and j not in out:
                out.append(j)
        return out

    def _passages(self, order: Sequence[int]) -> tuple[dict[str, str], ...]:
        file_source = self._rng.random() < self._noise.file_source
        docs = [dict(self._docs[j]) for j in order]
        if file_source:
            for d in docs:
                d["source"] = KB_FILE_SOURCE
        return tuple(docs)

    def _skill_example(self) -> ReaderExample:
        while True:
            question = generate_question(self._rng.choice(SKILLS), self._rng)
            if question.question not in self._exclude:
                break
        if self._rng.random() >= self._noise.skill_context:
            return ReaderExample(question, ())
        n = self._rng.choices((1, 2, 3), self._noise.n_passages_weights)[0]
        ranked = [j for j, _ in self._index.top_k(question.question, 8)]
        return ReaderExample(question, self._passages(self._distractors(ranked, exclude=-1, n=n)))
