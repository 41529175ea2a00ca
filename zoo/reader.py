"""Training of the zoo reader: a tiny Llama that answers facts questions from the passages in its prompt.

The reader (:data:`~zoo.spec.READER_SPEC`) sees exactly what a live run with retrieval shows an expert:
the orchestrator's ``expert_prompt(inst, passages)`` (``Context:`` block, then the question), passed in
as ``ZooTaskFormat.render_passages``. Its examples (:mod:`zoo.reader_data`) are facts questions over a
seeded training knowledge base with 1-3 retrieved passages, the right one not always first, plus some
zoo-skill questions with and without irrelevant passages.

Training is plain torch like the other zoo experts (:mod:`zoo.train`: AdamW, warmup then cosine decay,
seeded), with three differences: the reader has its own tokenizer (digits and capitals split like the
zoo's, more merges for the passages' words), examples are drawn in groups and batched by prompt length
(passages make prompts 60-300 tokens; padding every batch to the longest would double the cost), and
prompt tokens carry a small next-token loss besides the answer's, which teaches copying names from the
context early.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from zoo.facts import generate_kb
from zoo.reader_data import NoiseSpec, ReaderExample, ReaderExamples
from zoo.spec import ReaderSpec
from zoo.tasks import answer_text
from zoo.train import (
    ZooTaskFormat,
    _make_batch,
    build_model,
    build_zoo_tokenizer,
    save_trained,
    tokenizer_corpus,
    train_steps,
)

logger = logging.getLogger(__name__)

__all__ = ["build_reader_tokenizer", "train_reader"]

_TOKENIZER_SAMPLE = 1500
"""Reader examples whose prompts and replies the reader's tokenizer is trained on (with zoo prompts)."""


def _examples(spec: ReaderSpec, stream: str, exclude: Iterable[str] = ()) -> ReaderExamples:
    """A seeded example stream over the training knowledge base; ``stream`` names its random source."""
    kb = generate_kb(spec.train_kb_seed, spec.train_kb_size)
    noise = NoiseSpec(n_passages_weights=spec.n_passages_weights, skill_fraction=spec.skill_fraction)
    rng = random.Random(f"{stream}-{spec.name}-{spec.seed}")
    return ReaderExamples(kb, rng, noise, exclude=frozenset(exclude))


def _prompt(fmt: ZooTaskFormat, example: ReaderExample) -> str:
    return fmt.prompt(example.row(), example.passages)


def build_reader_tokenizer(spec: ReaderSpec, fmt: ZooTaskFormat) -> PreTrainedTokenizerFast:
    """The reader's tokenizer: the zoo recipe on reader prompts and zoo prompts (deterministic)."""
    sample = _examples(spec, "tokenizer").draw(_TOKENIZER_SAMPLE)
    corpus = [_prompt(fmt, e) for e in sample] + [answer_text(e.question.answer) for e in sample]
    return build_zoo_tokenizer(corpus + tokenizer_corpus(fmt), vocab_size=spec.vocab_size)


class _Batches:
    """Batches of similar prompt length: ``bucket`` batches' worth of examples drawn, sorted, split."""

    def __init__(self, examples: ReaderExamples, fmt: ZooTaskFormat, spec: ReaderSpec) -> None:
        self._examples, self._fmt, self._spec = examples, fmt, spec
        self._queue: list[list[tuple[str, ReaderExample]]] = []
        self._rng = random.Random(f"buckets-{spec.name}-{spec.seed}")

    def next(self) -> list[tuple[str, ReaderExample]]:
        if not self._queue:
            size = self._spec.batch_size
            drawn = [(_prompt(self._fmt, e), e) for e in self._examples.draw(size * self._spec.bucket)]
            drawn.sort(key=lambda pe: len(pe[0]))
            self._queue = [drawn[i : i + size] for i in range(0, len(drawn), size)]
            self._rng.shuffle(self._queue)
        return self._queue.pop()


def _loss(
    model: LlamaForCausalLM,
    ids: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    context_weight: float,
) -> torch.Tensor:
    """Next-token loss: answer tokens weigh 1, other real tokens ``context_weight``; per answer token."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = ids[:, 1:]
    answer = labels[:, 1:] != -100
    real = mask[:, 1:].bool()
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="none")
    weight = answer.float() + context_weight * (real & ~answer).float()
    return (ce.view_as(target) * weight).sum() / answer.sum()


def train_reader(
    spec: ReaderSpec,
    fmt: ZooTaskFormat,
    out_dir: str | Path,
    *,
    exclude: Iterable[str] = (),
    log_every: int = 100,
) -> dict[str, Any]:
    """Train the reader from scratch and save it (model, its tokenizer, marker) to ``out_dir``.

    Deterministic for a given spec and thread count.

    Args:
        spec: the reader.
        fmt: prompt rendering; ``render_passages`` must be set.
        out_dir: model folder to write; replaced only once the new one is complete.
        exclude: zoo-skill question texts never to train on (the held-out zoo splits).
        log_every: steps between INFO progress lines.

    Returns:
        Training facts: ``params``, ``steps``, ``wall_s``, ``cpu_s``, ``final_loss``, ``examples``
        (per category), ``passages`` (examples per passage count).
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    tokenizer = build_reader_tokenizer(spec, fmt)
    model = build_model(spec, tokenizer)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "zoo: training %s (%d params, vocabulary %d, spec %s)", spec.name, n_params, len(tokenizer), spec
    )
    batches = _Batches(_examples(spec, "train", exclude), fmt, spec)
    counts: dict[str, int] = {}
    n_passages: dict[str, int] = {}

    def step_loss(step: int) -> torch.Tensor:
        batch = batches.next()
        for _, e in batch:
            counts[e.question.skill] = counts.get(e.question.skill, 0) + 1
            n_passages[str(len(e.passages))] = n_passages.get(str(len(e.passages)), 0) + 1
        prompts = [p for p, _ in batch]
        ids, mask, labels = _make_batch(tokenizer, prompts, [e.question.answer for _, e in batch])
        return _loss(model, ids, mask, labels, spec.context_loss_weight)

    running = train_steps(model, step_loss, name=spec.name, steps=spec.steps, lr=spec.lr, seed=spec.seed,
                          log_every=log_every, start=start)  # fmt: skip
    model.eval()
    _save_reader(model, tokenizer, spec, Path(out_dir), n_params)
    return {
        "params": n_params,
        "steps": spec.steps,
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(time.process_time() - cpu_start, 1),
        "final_loss": round(running, 4),
        "examples": dict(sorted(counts.items())),
        "passages": dict(sorted(n_passages.items())),
    }


def _save_reader(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, spec: ReaderSpec, out: Path, n_params: int
) -> None:
    marker = {
        "name": spec.name,
        "params": n_params,
        "skills": ["facts"],
        "seed": spec.seed,
        "spec": asdict(spec),
    }
    save_trained(model, tokenizer, out, marker)


def reader_prompts(
    fmt: ZooTaskFormat, rows: Sequence[dict[str, Any]], passages: Sequence[Sequence[dict[str, str]]]
) -> list[str]:
    """Each row's prompt with its passages (none: the plain prompt)."""
    return [fmt.prompt(row, ps) for row, ps in zip(rows, passages, strict=True)]
