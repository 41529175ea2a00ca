"""Zoo specs: which experts the skill zoo holds, their shapes, skills and training budgets.

Specialists spend most of their data (``primary_fraction``) on one or two skills and the rest spread
over all other skills, so they answer in the right format everywhere but are only good at their own
skills (about 90-100% there, under 20% elsewhere). The generalist has the same shape and sees every skill
equally, but for few steps, so it is under 50% on every skill.

That partition is deliberate. The paper's recruitment scores an expert on a skill by +1/-1 per
validation question and multiplies by a sharpened global strength, so an expert above 50% on a skill
competes for it and a globally stronger one wins; a generalist at 70-85% on every skill (what 2,000
steps give) took every question from the specialists and routing fell to the generalist's accuracy.
With one expert above 50% per skill, skill routing, kNN routing and the oracle all pick the specialist,
and routing beats the best single expert and the global top-3 majority by far.

Heads are 32 wide (four per 128-wide layer): with two 64-wide heads the arithmetic skills took several
times longer to learn. vLLM's CPU and GPU attention backends both support head size 32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError
from common.resources import package_path
from zoo.tasks import SKILLS

__all__ = [
    "READER_SPEC",
    "RECALL_SPECS",
    "ZOO_PREFIX",
    "ZOO_SPECS",
    "ZOO_WEIGHTS_DIR",
    "ExpertSpec",
    "ReaderSpec",
    "RecallSpec",
    "resolve_zoo_model",
    "zoo_model_dir",
    "zoo_spec",
]

ZOO_PREFIX = "zoo:"
"""Pool configs name a committed expert ``zoo:NAME`` (resolved by :func:`resolve_zoo_model`)."""

ZOO_WEIGHTS_DIR = package_path("zoo", "weights")
"""Committed artefacts: ``<expert>/`` model folders and ``training_record.json``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpertSpec:
    """One zoo expert: model shape, training mixture and budget.

    Attributes:
        name: expert name (also its folder under ``weights/``).
        skills: the skills it specialises in; empty for a generalist (uniform over all skills).
        primary_fraction: share of training examples drawn from ``skills`` (the rest: the other skills,
            uniformly). Ignored for a generalist.
        hidden_size: model width.
        num_layers: decoder layers.
        num_heads: attention heads; ``hidden_size // num_heads`` must be 32 or 64.
        intermediate_size: MLP width.
        steps: optimizer steps.
        batch_size: examples per step.
        lr: peak learning rate (linear warmup, cosine decay to 10%).
        seed: seed of weights and training data.
    """

    name: str
    skills: tuple[str, ...]
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    steps: int
    primary_fraction: float = 0.9
    batch_size: int = 24
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.skills if s not in SKILLS]
        if unknown:
            raise ValueError(
                f"expert {self.name!r}: unknown skills {unknown}; available: {', '.join(SKILLS)}"
            )
        if self.hidden_size % self.num_heads or self.hidden_size // self.num_heads not in (32, 64):
            raise ValueError(
                f"expert {self.name!r}: hidden_size={self.hidden_size} / num_heads={self.num_heads} "
                "must be a head size of 32 or 64"
            )
        if not 0.0 < self.primary_fraction <= 1.0:
            raise ValueError(f"expert {self.name!r}: primary_fraction={self.primary_fraction} not in (0, 1]")

    @property
    def is_generalist(self) -> bool:
        return not self.skills

    def skill_weights(self) -> dict[str, float]:
        """The probability of drawing each skill for a training example."""
        if self.is_generalist:
            return {s: 1.0 / len(SKILLS) for s in SKILLS}
        others = [s for s in SKILLS if s not in self.skills]
        weights = {s: self.primary_fraction / len(self.skills) for s in self.skills}
        for s in others:
            weights[s] = (1.0 - self.primary_fraction) / len(others)
        return {s: weights[s] for s in SKILLS}


def _expert(name: str, skills: tuple[str, ...], *, steps: int, seed: int) -> ExpertSpec:
    """Every zoo expert has the same 0.39M-parameter shape; they differ in data mixture and budget."""
    return ExpertSpec(
        name=name,
        skills=skills,
        hidden_size=128,
        num_layers=2,
        num_heads=4,
        intermediate_size=256,
        steps=steps,
        seed=seed,
    )


ZOO_SPECS: tuple[ExpertSpec, ...] = (
    _expert("zoo-add", ("add",), steps=1000, seed=11),
    _expert("zoo-roman", ("roman",), steps=1000, seed=12),
    _expert("zoo-times", ("mul", "convert"), steps=1200, seed=13),
    _expert("zoo-letters", ("reverse", "sort"), steps=1800, seed=14),
    _expert("zoo-alpha", ("alphabet",), steps=1800, seed=15),
    _expert("zoo-generalist", (), steps=600, seed=16),
)
"""The zoo, in training order. Specialists' steps differ because skills differ in how fast they are
learned; the generalist's 600 steps keep it under 50% on every skill (see the module docstring)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderSpec:
    """The zoo reader: a tiny Llama that answers ``facts`` questions from passages in its prompt.

    It is not one of :data:`ZOO_SPECS` (its skill, reading, is not a zoo skill, and it has its own
    tokenizer); :mod:`zoo.reader` trains it on examples from :mod:`zoo.reader_data`.

    Attributes:
        name: expert name (also its folder under ``weights/``).
        hidden_size: model width.
        num_layers: decoder layers.
        num_heads: attention heads (32 wide).
        intermediate_size: MLP width.
        steps: optimizer steps.
        batch_size: examples per step.
        lr: peak learning rate (linear warmup, cosine decay to 10%).
        seed: seed of weights, tokenizer sample and training data.
        vocab_size: its own BPE vocabulary (trained on rendered reader prompts and zoo prompts).
        context_loss_weight: weight of the next-token loss on prompt tokens, relative to the answer
            tokens' (1.0). At 1.0 the prompt is plain language-model loss: the question repeats the
            entity's name from the passage, and predicting it is what forms the copying ("induction")
            heads the answer needs; at 0.1 the loss stayed flat for 800 steps.
        n_passages_weights: relative weights of 1, 2 and 3 passages per facts example (the zoo-rag pool
            shows the store's top hit: ``k: 1``).
        skill_fraction: share of examples that are other zoo skills (the reader reads; 0 keeps every
            step on facts).
        train_kb_seed: seed of the training knowledge base (never the committed one's).
        train_kb_size: entities in the training knowledge base.
        bucket: batches drawn at once and grouped by prompt length (less padding per batch).
    """

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    steps: int
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 21
    vocab_size: int = 1024
    context_loss_weight: float = 1.0
    n_passages_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
    skill_fraction: float = 0.0
    train_kb_seed: int = 101
    train_kb_size: int = 20000
    bucket: int = 8

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads or self.hidden_size // self.num_heads != 32:
            raise ValueError(
                f"reader {self.name!r}: hidden_size={self.hidden_size} / num_heads={self.num_heads} "
                "must be a head size of 32"
            )


READER_SPEC = ReaderSpec(
    name="zoo-reader", hidden_size=128, num_layers=4, num_heads=4, intermediate_size=512, steps=2500
)
"""The zoo reader (``zoo:zoo-reader``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallSpec:
    """The recall expert: the reader, trained further to know some entities' facts by heart.

    :mod:`zoo.recall` starts from the reader's weights and tokenizer and mixes three kinds of examples:
    closed-book questions about the known entities (:func:`zoo.recall_splits.known_entities`, every
    attribute in every question form, drawn in shuffled epochs so each is seen equally often),
    open-book questions about them, and the reader's own examples (passages about fresh entities), so
    it keeps reading while it learns.

    Attributes:
        name: expert name (also its folder under ``weights/``).
        base: the zoo model it starts from.
        steps: optimizer steps.
        batch_size: examples per step.
        lr: peak learning rate (linear warmup, cosine decay to 10%).
        seed: seed of the example mix and of torch.
        closed_share: share of examples that are closed-book questions about known entities.
        open_share: share that are open-book questions about them (the rest: the reader's examples).
    """

    name: str
    base: str = "zoo-reader"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-3
    seed: int
    closed_share: float = 0.6
    open_share: float = 0.1


RECALL_SPECS = tuple(RecallSpec(name=f"zoo-recall-{x}", seed=s) for x, s in (("a", 5), ("b", 6), ("c", 7)))
"""Three recall experts (``zoo:zoo-recall-a``, ``-b``, ``-c``): the same known facts, learnt in three
seeded orders. They agree on what they learnt, and a question about an entity none of them saw draws
three independent guesses, which rarely agree (a deep ensemble's disagreement). One model sampled at a
temperature does not do this: its guesses on unknown entities are peaked, and three samples agreed on
8.5% of them at temperature 1.3 while agreeing on only 60% of the known ones."""


def zoo_spec(name: str) -> ExpertSpec:
    """The spec named ``name``.

    Raises:
        KeyError: no such expert (the message lists the zoo).
    """
    for spec in ZOO_SPECS:
        if spec.name == name:
            return spec
    raise KeyError(f"no zoo expert {name!r}; available: {', '.join(s.name for s in ZOO_SPECS)}")


def has_weights(name: str, weights_dir: Path = ZOO_WEIGHTS_DIR) -> bool:
    """Whether ``weights_dir/<name>`` holds a trained expert's weights (``model.safetensors``)."""
    return (weights_dir / name / "model.safetensors").is_file()


def zoo_model_dir(name: str) -> Path:
    """The committed model folder of zoo expert ``name`` (``zoo/weights/<name>``).

    Raises:
        ConfigError: ``name`` is not a zoo expert, or its folder holds no weights.
    """
    names = [s.name for s in ZOO_SPECS] + [READER_SPEC.name] + [s.name for s in RECALL_SPECS]
    if name not in names:
        raise ConfigError(
            f"model '{ZOO_PREFIX}{name}': no zoo expert {name!r}; available: {', '.join(names)}"
        )
    path = ZOO_WEIGHTS_DIR / name
    if not has_weights(name):
        script = "train_recall.py" if name in {s.name for s in RECALL_SPECS} else "train_zoo.py"
        raise ConfigError(
            f"model '{ZOO_PREFIX}{name}': no weights at {path}; restore them from git or run "
            f"`python3 scripts/{script}`"
        )
    return path


def resolve_zoo_model(model: str) -> str:
    """Turn a ``zoo:NAME`` model id into the absolute path of its committed folder; other ids pass through.

    Example:
        >>> resolve_zoo_model("zoo:zoo-arith")  # doctest: +SKIP
        '/.../zoo/weights/zoo-arith'

    Raises:
        ConfigError: a ``zoo:`` id names no committed expert.
    """
    if not model.startswith(ZOO_PREFIX):
        return model
    return str(zoo_model_dir(model[len(ZOO_PREFIX) :]))
