"""Skill annotators: keyword parsing, the LLM annotator's voting rules, and the embedding annotators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from batching.engines.base import Engine
from common.errors import ConfigError
from common.generation import GenRequest, GenResult, SamplingParams
from skills.annotator import KEYWORD_PROMPT, LLMKeywordAnnotator
from skills.embedding import Embedder
from skills.keyword_parse import clean_keyword, parse_keywords
from skills.similarity_annotator import EmbeddingSkillAnnotator, NeighbourSkillAnnotator
from skills.vocabulary import load_vocabulary


@dataclass(frozen=True)
class _FakeConfig:
    name: str = "canned"


class CannedEngine(Engine):
    """A real engine whose outputs come from ``respond(request)``; records every generate call."""

    kind = "canned"

    def __init__(self, respond: Callable[[GenRequest], GenResult]) -> None:
        super().__init__(_FakeConfig())
        self.respond = respond
        self.calls: list[list[GenRequest]] = []

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.calls.append(list(batch))
        return [self.respond(r) for r in batch]


def _by_sample(outputs: Sequence[str | None]) -> Callable[[GenRequest], GenResult]:
    """Answer sample ``s`` of every question with ``outputs[s]`` (``None`` = failed request)."""

    def respond(req: GenRequest) -> GenResult:
        sample = int(req.request_id.rsplit("-", 1)[1])
        text = outputs[sample]
        if text is None:
            return GenResult(request_id=req.request_id, text=None, error="boom")
        return GenResult(request_id=req.request_id, text=text)

    return respond


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Keywords: Organic Chemistry, **stereochemistry**", ["organic chemistry", "stereochemistry"]),
        ('["algebra", "Number Theory"]', ["algebra", "number theory"]),
        ('Sure. {"keywords": ["tort law", "negligence"]}', ["tort law", "negligence"]),
        (
            "Here are the keywords:\n- Algebra: to solve for x\n- Geometry\n3. Probability",
            ["algebra", "geometry", "probability"],
        ),
        ("algebra, geometry; calculus", ["algebra", "geometry", "calculus"]),
        ("<think>keywords: wrong</think>\nKeywords: optics, waves", ["optics", "waves"]),
        ("Keywords: cardiology (heart), pharmacology.", ["cardiology", "pharmacology"]),
        ("Keywords: supply and demand, elasticity\nExplanation: x, y", ["supply and demand", "elasticity"]),
        ("Keywords: algebra, Algebra, ALGEBRA", ["algebra"]),
    ],
)
def test_parse_keywords_accepts_common_shapes(text: str, expected: list[str]) -> None:
    assert parse_keywords(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "!!! ### $$$",
        "zxcv qwrtp, @@##!!, 0000",
        "Keywords: <keyword1>, <keyword2>, ...",
        "<think>I ran out of tokens before answering",
    ],
)
def test_parse_keywords_gives_nothing_for_gibberish(text: str | None) -> None:
    assert parse_keywords(text) is None


def test_clean_keyword_rejects_sentences_and_symbols() -> None:
    assert clean_keyword("  `Contract_Law`. ") == "contract law"
    assert clean_keyword("this is a whole sentence about the question at hand") is None
    assert clean_keyword("x^2 + 1") is None


def test_llm_annotator_batches_all_questions_in_one_call_with_distinct_seeds() -> None:
    engine = CannedEngine(_by_sample(["Keywords: algebra"] * 3))
    annotator = LLMKeywordAnnotator(engine, n_samples=3, min_count=2, sampling=SamplingParams(seed=10))
    result = annotator.annotate(["q one?", "q two?"])

    assert result == [["algebra"], ["algebra"]]
    assert len(engine.calls) == 1
    batch = engine.calls[0]
    assert len(batch) == 6
    assert [r.sampling.seed for r in batch[:3]] == [10, 11, 12]
    assert len({r.request_id for r in batch}) == 6
    assert batch[0].prompt == KEYWORD_PROMPT.format(question="q one?")
    assert batch[0].messages == (("user", batch[0].prompt),)


def test_llm_annotator_keeps_keywords_seen_min_count_times_within_max_chars() -> None:
    outputs = [
        "Keywords: algebra, geometry, a very long keyword here",
        "algebra, calculus, a very long keyword here",
        "%%%% ####",  # unparseable
        None,  # engine error
        '["Algebra", "calculus"]',
    ]
    engine = CannedEngine(_by_sample(outputs))

    strict = LLMKeywordAnnotator(engine, n_samples=5, min_count=2, max_chars=20)
    stats = strict.annotate_with_stats(["What is 2x = 4?"])
    assert stats.keywords == [["algebra", "calculus"]]  # most votes first; the long one is over 20 chars
    assert stats.parse_failures == [2]
    assert stats.request_errors == [1]
    assert stats.total_parse_failures == 2

    loose = LLMKeywordAnnotator(engine, n_samples=5, min_count=1, max_chars=30)
    # Ties keep first-seen order: the long keyword appeared (sample 0) before calculus (sample 1).
    assert loose.annotate(["What is 2x = 4?"]) == [
        ["algebra", "a very long keyword here", "calculus", "geometry"]
    ]


def test_llm_annotator_gives_empty_lists_for_gibberish() -> None:
    engine = CannedEngine(_by_sample(["qwrtzx bcdfgh", "!!!", "", "<keyword>", "12345"]))
    stats = LLMKeywordAnnotator(engine).annotate_with_stats(["a", "b"])
    assert stats.keywords == [[], []]
    assert stats.parse_failures == [5, 5]


def test_llm_annotator_handles_no_questions() -> None:
    engine = CannedEngine(_by_sample(["algebra"]))
    assert LLMKeywordAnnotator(engine).annotate([]) == []
    assert engine.calls == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 0}, "n_samples=0"),
        ({"n_samples": 3, "min_count": 4}, "min_count=4"),
        ({"max_chars": 0}, "max_chars=0"),
        ({"prompt_template": "no field"}, "question"),
    ],
)
def test_llm_annotator_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    engine = CannedEngine(_by_sample(["algebra"]))
    with pytest.raises(ConfigError, match=message):
        LLMKeywordAnnotator(engine, **kwargs)  # type: ignore[arg-type]


CLEAR_QUESTIONS = {
    "What is the derivative of f(x) = 3x^2 + 2x with respect to x?": {
        "calculus",
        "derivatives",
        "differential eqns",
        "limits",
        "functions",
        "integrals",
    },
    "A buyer signed an agreement to purchase land, but the seller refused to perform. "
    "Is the agreement enforceable?": {"contract law", "property law", "law", "legal reasoning"},
    "Which drug is a beta-blocker used to treat hypertension?": {
        "pharmacology",
        "pharmacokinetics",
        "cardiology",
    },
    "Find the remainder when 2^100 is divided by 7.": {
        "modular arithmetic",
        "number theory",
        "divisibility",
    },
}


def test_embedding_annotator_picks_plausible_skills(shared_embedder: Embedder) -> None:
    annotator = EmbeddingSkillAnnotator(shared_embedder, load_vocabulary().skills, top_n=3)
    questions = list(CLEAR_QUESTIONS)
    for question, skills in zip(questions, annotator.annotate(questions), strict=True):
        assert len(skills) == 3
        assert set(skills) & CLEAR_QUESTIONS[question], (question, skills)


def test_embedding_annotator_similarity_floor_and_validation(shared_embedder: Embedder) -> None:
    annotator = EmbeddingSkillAnnotator(
        shared_embedder, ["calculus", "contract law"], top_n=2, min_similarity=0.3
    )
    assert annotator.annotate(["What is the derivative of x^3?"]) == [["calculus"]]
    assert annotator.annotate([]) == []
    with pytest.raises(ConfigError, match="empty"):
        EmbeddingSkillAnnotator(shared_embedder, [])


PROFILED = [
    ("Differentiate sin(x) * x^2.", ["calculus", "derivatives"]),
    ("Find the derivative of ln(x) at x = 2.", ["calculus", "derivatives", "logarithms"]),
    ("Compute the integral of x^2 from 0 to 1.", ["calculus", "integrals"]),
    ("Is an oral promise to sell land enforceable?", ["contract law", "property law"]),
    ("Can a minor void a contract for a car?", ["contract law"]),
    ("Does a counteroffer terminate the original offer?", ["contract law"]),
]


def test_neighbour_annotator_votes_over_similar_profiled_questions(shared_embedder: Embedder) -> None:
    texts, skills = zip(*PROFILED, strict=True)
    annotator = NeighbourSkillAnnotator(shared_embedder, list(texts), list(skills), k=3, min_votes=2)
    calc, law = annotator.annotate(
        ["What is the derivative of x^3 + 2x?", "Is a contract signed under duress binding?"]
    )
    assert calc[0] == "calculus"
    assert "derivatives" in calc
    assert law[0] == "contract law"


def test_neighbour_annotator_falls_back_to_top_votes(shared_embedder: Embedder) -> None:
    annotator = NeighbourSkillAnnotator(
        shared_embedder, ["Differentiate x^2."], [["calculus"]], k=5, min_votes=2, fallback_top=1
    )
    assert annotator.annotate(["Differentiate x^3."]) == [["calculus"]]


def test_neighbour_annotator_can_leave_the_question_itself_out(shared_embedder: Embedder) -> None:
    texts = ["Differentiate x^2.", "Is an oral promise to sell land enforceable?"]
    annotator = NeighbourSkillAnnotator(
        shared_embedder, texts, [["calculus"], ["contract law"]], k=1, min_votes=1, exclude_identical=True
    )
    assert annotator.annotate(["Differentiate x^2."]) == [["contract law"]]


def test_neighbour_annotator_rejects_misaligned_inputs(shared_embedder: Embedder) -> None:
    with pytest.raises(ConfigError, match="2 profiled texts but 1 skill lists"):
        NeighbourSkillAnnotator(shared_embedder, ["a", "b"], [["x"]])
