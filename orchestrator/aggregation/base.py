"""The aggregator interface and its registry: one registered class per way of reaching a final answer.

An aggregator declares what it needs as class attributes, so pools, pipelines and benches ask the
registered class (``aggregator_registry.get(method.aggregation).needs_model``) and never compare names:

- ``needs_model``: an aggregator model (the pool's ``aggregator``) writes the answer after the experts;
  the bench, which decides by votes over recorded answers, cannot run it;
- ``needs_local_accuracy``: each recruited expert's accuracy on the question (kNN local, per group or
  global, fitted on the profiling split; see :class:`~orchestrator.voting.calibration.VoteConfig`), so
  the profiling data, and for kNN accuracy the questions' embeddings;
- ``needs_profiling_gold``: fitted on the profiling split's gold answers;
- ``uses_vote_features``: reads features beyond who voted what (``vote.features``: the responses'
  answer statements, the options' content), so questions carry response texts and options.

Example::

    @aggregator_registry.register("majority")
    class MajorityAggregator(Aggregator):
        def decide(self, q, ballots, same):
            return Decided(majority_vote(ballots, same=same), "majority")

    agg = aggregator_registry.get(method.aggregation)(method)
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from common.registry import Registry
from orchestrator.voting.vote import Ballot, Same

if TYPE_CHECKING:
    from orchestrator.policies.base import AccuracyModel, ProfilingData
    from orchestrator.policies.knn import KNNOptions
    from orchestrator.voting.calibration import VoteConfig


@dataclass(frozen=True, slots=True)
class Decided:
    """A question's final answer and how it was reached.

    Attributes:
        answer: the final answer (None when nobody answered).
        how: ``consensus``, ``pick`` or the deciding aggregator's label (``majority``, ``weighted``,
            ``stacked``, ``llm``).
        aggregator_called: the LLM aggregator produced (or was asked for) this answer.
        text: the aggregator's reply, when it was called.
        fallback: the aggregator's reply had no parsable answer; the experts' majority was used.
    """

    answer: str | None
    how: str
    _: KW_ONLY
    aggregator_called: bool = False
    text: str | None = None
    fallback: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """What the decision needs of one question.

    Attributes:
        experts: the recruited experts in recruitment order. An expert the paper's policy drew twice
            appears twice and votes twice (the paper's two samples; identical under greedy decoding).
        answers: each expert's parsed answer (None: abstained), aligned with ``experts``.
        n_options: option count (0 for free-form answers).
        local_accuracy: each expert's accuracy on this question (weighted/stacked votes).
        texts: each expert's response, aligned with ``experts`` (the stacked vote's answer-statement
            feature; None when not needed).
        options: the question's option texts (the stacked vote's option features).
    """

    experts: Sequence[str]
    answers: Sequence[str | None]
    n_options: int
    local_accuracy: dict[str, float] | None = None
    texts: Sequence[str | None] | None = None
    options: Sequence[str] = ()


class AggregationSettings(Protocol):
    """What an aggregator reads of its method (:class:`~orchestrator.method.MethodConfig` has it all)."""

    @property
    def name(self) -> str: ...

    @property
    def aggregation(self) -> str: ...

    @property
    def k(self) -> int: ...

    @property
    def l2(self) -> float: ...

    @property
    def consensus_skip(self) -> bool: ...

    @property
    def vote(self) -> VoteConfig: ...

    @property
    def reliability(self) -> KNNOptions: ...


class Aggregator(abc.ABC):
    """Turns one question's ballots into its final answer. Subclasses implement :meth:`decide`.

    Args:
        settings: the method's aggregation settings (vote config, stacked penalty, k, name).
    """

    name: ClassVar[str] = "base"
    needs_model: ClassVar[bool] = False
    """An aggregator model answers (the pool names one); :meth:`decide` returns None to ask it."""
    needs_local_accuracy: ClassVar[bool] = False
    """Votes are weighted by each expert's accuracy on the question, estimated on the profiling split."""
    needs_profiling_gold: ClassVar[bool] = False
    """Fitted on the profiling split's gold answers."""
    uses_vote_features: ClassVar[bool] = False
    """Reads the method's ``vote.features`` (response texts, option contents) once fitted."""

    def __init__(self, settings: AggregationSettings) -> None:
        self.settings = settings

    def fit(
        self, profiling: ProfilingData, gold: Sequence[str] | None, accuracy: AccuracyModel | None
    ) -> None:
        """Fit on the profiling split; the default learns nothing (votes without a model).

        Args:
            profiling: the profiling split.
            gold: its gold answers (None when the caller has none).
            accuracy: the fitted accuracy estimate (``needs_local_accuracy`` aggregators get one).
        """
        return None

    @property
    def features(self) -> tuple[str, ...]:
        """The extra features a :class:`Question` must carry (response texts, options)."""
        return ()

    @abc.abstractmethod
    def decide(self, q: Question, ballots: Sequence[Ballot], same: Same | None) -> Decided | None:
        """The final answer of ``q``, or None when the aggregator model must answer it.

        Args:
            q: the question's recruited experts, their answers and accuracies.
            ballots: one per recruited expert, in recruitment order, with its model family.
            same: how answers compare (math-verify classes for free-form answers; None: by string).
        """

    def confidence(self, q: Question, answer: str) -> float | None:
        """The aggregator's own probability of ``answer``; None to use the vote's share of weight."""
        return None


aggregator_registry: Registry[type[Aggregator]] = Registry("aggregator", base_cls=Aggregator)
