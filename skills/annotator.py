"""Skill annotators: map each question to the skills (keywords) it needs, in one batched call.

Three implementations share the :class:`SkillAnnotator` interface (the two without an LLM live in
``skills/similarity_annotator.py``):

- :class:`LLMKeywordAnnotator`: the paper's annotator; an LLM names the keywords, sampled several times,
  and a keyword is kept when enough samples agree.
- :class:`EmbeddingSkillAnnotator` (no LLM): the vocabulary skills nearest to the question's embedding.
- :class:`NeighbourSkillAnnotator` (no LLM): a vote over the skills of the nearest profiled questions.

Example::

    annotator = LLMKeywordAnnotator(engine, n_samples=5, min_count=2)
    skills = annotator.annotate(["What is the derivative of x^2?"])   # [['calculus', 'derivatives']]
"""

from __future__ import annotations

import abc
import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.errors import ConfigError
from common.generation import Generator, GenRequest, SamplingParams
from skills.keyword_parse import parse_keywords

logger = logging.getLogger(__name__)

KEYWORD_PROMPT = (
    "Question: {question}\n\n"
    "Which areas of knowledge or skills would an expert need to answer this question? "
    "Name 2 to 5 short keywords, each only a few words long (for example: organic chemistry, "
    "contract law, probability, cardiology, macroeconomics, cognitive psychology). "
    "Do not answer the question and do not explain. "
    "Reply in exactly this format: Keywords: <keyword>, <keyword>, ..."
)
DEFAULT_KEYWORD_SAMPLING = SamplingParams(temperature=0.7, max_tokens=128, seed=0)


class SkillAnnotator(abc.ABC):
    """Maps questions to skills. ``annotate`` is batch-in, batch-out, one skill list per text in order."""

    name: ClassVar[str] = "base"

    @abc.abstractmethod
    def annotate(self, texts: Sequence[str]) -> list[list[str]]:
        """Return the skills of each text, aligned with ``texts``."""


@dataclass(frozen=True, slots=True)
class KeywordAnnotation:
    """What :meth:`LLMKeywordAnnotator.annotate_with_stats` found.

    Attributes:
        keywords: the kept keywords per question, most agreed-on first.
        parse_failures: per question, how many samples gave no usable keyword (unparseable text,
            failed or missing request).
        request_errors: per question, how many samples failed in the engine (error or missing).
    """

    keywords: list[list[str]]
    parse_failures: list[int]
    request_errors: list[int]

    @property
    def total_parse_failures(self) -> int:
        return sum(self.parse_failures)


class LLMKeywordAnnotator(SkillAnnotator):
    """The paper's keyword annotator: sample an LLM ``n_samples`` times and keep the agreed keywords.

    All questions and samples go to the engine in one ``generate`` call (``len(texts) * n_samples``
    requests), each sample with its own seed (``sampling.seed + sample index``).

    Args:
        engine: any engine; it is loaded on first use and left as it is afterwards.
        n_samples: samples per question (the paper uses 5).
        min_count: keep a keyword seen in at least this many samples (the paper keeps those seen twice).
        max_chars: drop keywords longer than this (the paper uses 20).
        sampling: sampling for every request; its ``seed`` (default 0) is the first sample's seed.
        prompt_template: the prompt, with a ``{question}`` field.

    Raises:
        ConfigError: ``n_samples < 1``, ``min_count`` outside ``1..n_samples`` or ``max_chars < 1``.
    """

    name = "llm_keywords"

    def __init__(
        self,
        engine: Generator,
        n_samples: int = 5,
        min_count: int = 2,
        max_chars: int = 20,
        sampling: SamplingParams = DEFAULT_KEYWORD_SAMPLING,
        prompt_template: str = KEYWORD_PROMPT,
    ) -> None:
        if n_samples < 1:
            raise ConfigError(f"annotator {self.name!r}: n_samples={n_samples} must be >= 1")
        if not 1 <= min_count <= n_samples:
            raise ConfigError(
                f"annotator {self.name!r}: min_count={min_count} must be in 1..n_samples ({n_samples})"
            )
        if max_chars < 1:
            raise ConfigError(f"annotator {self.name!r}: max_chars={max_chars} must be >= 1")
        if "{question}" not in prompt_template:
            raise ConfigError(f"annotator {self.name!r}: prompt_template has no {{question}} field")
        self.engine = engine
        self.n_samples = n_samples
        self.min_count = min_count
        self.max_chars = max_chars
        self.sampling = sampling
        self.prompt_template = prompt_template

    def annotate(self, texts: Sequence[str]) -> list[list[str]]:
        """Return the kept keywords of each question (see :meth:`annotate_with_stats`)."""
        return self.annotate_with_stats(texts).keywords

    def annotate_with_stats(self, texts: Sequence[str]) -> KeywordAnnotation:
        """Annotate questions and report how many samples could not be parsed.

        Args:
            texts: the questions, options included as the experts see them.

        Returns:
            The keywords per question plus per-question failure counts.
        """
        requests = self.build_requests(texts)
        results = self.engine.generate(requests)
        keywords: list[list[str]] = []
        failures: list[int] = []
        errors: list[int] = []
        n = self.n_samples
        for q in range(len(texts)):
            counts: Counter[str] = Counter()
            n_fail = n_err = 0
            for res in results[q * n : (q + 1) * n]:
                bad = res.error is not None or res.missing
                parsed = None if bad else parse_keywords(res.text)
                n_err += int(bad)
                if parsed is None:
                    n_fail += 1
                    continue
                counts.update(parsed)  # parse_keywords dedupes: a sample votes once per keyword
            keywords.append(self._keep(counts))
            failures.append(n_fail)
            errors.append(n_err)
        total_fail = sum(failures)
        if total_fail:
            logger.warning(
                "annotator %s: %d of %d samples gave no usable keywords (%d engine errors)",
                self.name,
                total_fail,
                len(requests),
                sum(errors),
            )
        return KeywordAnnotation(keywords, failures, errors)

    def build_requests(self, texts: Sequence[str]) -> list[GenRequest]:
        """The requests ``annotate`` sends: question-major, ``n_samples`` per question."""
        base_seed = self.sampling.seed if self.sampling.seed is not None else 0
        samplings = [dataclasses.replace(self.sampling, seed=base_seed + s) for s in range(self.n_samples)]
        requests = []
        for q, text in enumerate(texts):
            prompt = self.prompt_template.format(question=text)
            for s, sampling in enumerate(samplings):
                requests.append(
                    GenRequest(
                        request_id=f"kw-{q}-{s}",
                        prompt=prompt,
                        messages=(("user", prompt),),
                        sampling=sampling,
                    )
                )
        return requests

    def _keep(self, counts: Counter[str]) -> list[str]:
        # most_common is stable, so ties keep the order keywords were first seen in.
        return [k for k, c in counts.most_common() if c >= self.min_count and len(k) <= self.max_chars]
