"""Training of the recall expert: the reader, trained further to know the known entities' facts by heart.

The recall test bed (:mod:`zoo.recall_splits`) needs an expert that answers some facts questions from
its own weights and the rest only from a passage. This module starts from the committed reader
(:data:`~zoo.spec.RECALL_SPEC` ``.base``: weights and tokenizer) and trains on a mix
(:class:`~zoo.spec.RecallSpec`): closed-book questions about the known entities, every attribute in
every question form, in shuffled epochs (each seen equally often); open-book questions about them; and
the reader's own examples over its training knowledge base (fresh entities with their passage), so
reading is kept. The loss is the reader's (answer tokens, plus the prompt's next-token loss).

Example::

    facts = train_recall(RECALL_SPEC, zoo_task_format(), "zoo/weights/zoo-recall")
    facts["wall_s"], facts["facts"]     # seconds, question forms learnt
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from zoo.facts import FACTS_KB_SEED, FACTS_KB_SIZE, FactsEntity, generate_kb, iter_questions
from zoo.reader import _examples, _loss
from zoo.reader_data import ReaderExample
from zoo.recall_splits import known_entities, recall_split_path
from zoo.spec import READER_SPEC, RECALL_SPECS, ZOO_WEIGHTS_DIR, RecallSpec
from zoo.tasks import ZOO_DATA_DIR, ZooQuestion, read_rows
from zoo.train import ZooTaskFormat, _make_batch, evaluate_prompts, save_trained, train_steps

logger = logging.getLogger(__name__)

__all__ = ["RECALL_RECORD_FILE", "RecallExamples", "measure_recall", "train_recall"]

RECALL_RECORD_FILE = "recall_record.json"
"""The recall experts' record in ``weights/``: training facts and what each knows, closed- and open-book."""


class RecallExamples:
    """The recall expert's seeded example mix (see :class:`~zoo.spec.RecallSpec`).

    Args:
        spec: the mix's shares and seed.
        known: the entities to learn by heart.
    """

    def __init__(self, spec: RecallSpec, known: Sequence[FactsEntity]) -> None:
        self._facts = [(e, q, a) for e in known for q, a in iter_questions(e)]
        self._spec = spec
        self._rng = random.Random(f"recall-{spec.name}-{spec.seed}")
        self._queue: list[tuple[FactsEntity, str, str]] = []
        self._reading = _examples(READER_SPEC, f"recall-{spec.seed}")

    @property
    def n_facts(self) -> int:
        """Question forms (entity, attribute, template) learnt closed-book."""
        return len(self._facts)

    def _next_fact(self) -> tuple[FactsEntity, str, str]:
        if not self._queue:
            self._queue = list(self._facts)
            self._rng.shuffle(self._queue)
        return self._queue.pop()

    def draw(self, n: int) -> list[ReaderExample]:
        """The next ``n`` examples."""
        out = []
        for _ in range(n):
            u = self._rng.random()
            if u < self._spec.closed_share:
                _, q, a = self._next_fact()
                out.append(ReaderExample(ZooQuestion("facts", q, a), ()))
            elif u < self._spec.closed_share + self._spec.open_share:
                e, q, a = self._facts[self._rng.randrange(len(self._facts))]
                out.append(ReaderExample(ZooQuestion("facts", q, a), (e.document(),)))
            else:
                out.extend(self._reading.draw(1))
        return out


def train_recall(
    spec: RecallSpec,
    fmt: ZooTaskFormat,
    out_dir: str | Path,
    *,
    weights_dir: str | Path = ZOO_WEIGHTS_DIR,
    log_every: int = 100,
) -> dict[str, Any]:
    """Train the recall expert from the committed base model and save it to ``out_dir``.

    Deterministic for a given spec and thread count.

    Args:
        spec: the recall expert.
        fmt: prompt rendering; ``render_passages`` must be set.
        out_dir: model folder to write; replaced only once the new one is complete.
        weights_dir: where the base model's folder is.
        log_every: steps between INFO progress lines.

    Returns:
        Training facts: ``spec``, ``params``, ``steps``, ``facts`` (question forms learnt), ``entities``,
        ``wall_s``, ``cpu_s``, ``final_loss``.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    base = Path(weights_dir) / spec.base
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    model: LlamaForCausalLM = LlamaForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.train()
    known = known_entities()
    examples = RecallExamples(spec, known)
    logger.info("zoo: training %s from %s (%d question forms of %d entities)", spec.name, spec.base,
                examples.n_facts, len(known))  # fmt: skip

    def step_loss(step: int) -> torch.Tensor:
        batch = examples.draw(spec.batch_size)
        prompts = [fmt.prompt(e.row(), e.passages) for e in batch]
        ids, mask, labels = _make_batch(tokenizer, prompts, [e.question.answer for e in batch])
        return _loss(model, ids, mask, labels, READER_SPEC.context_loss_weight)

    running = train_steps(model, step_loss, name=spec.name, steps=spec.steps, lr=spec.lr, seed=spec.seed,
                          log_every=log_every, start=start)  # fmt: skip
    model.eval()
    model.to(torch.float16)  # stored in half precision (2.3 MB instead of 4.6); pools load it as float32
    n_params = sum(p.numel() for p in model.parameters())
    marker = {"name": spec.name, "params": n_params, "skills": ["facts"], "seed": spec.seed,
              "spec": asdict(spec)}  # fmt: skip
    save_trained(model, tokenizer, Path(out_dir), marker)
    return {
        "spec": asdict(spec),
        "params": n_params,
        "steps": spec.steps,
        "facts": examples.n_facts,
        "entities": len(known),
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(time.process_time() - cpu_start, 1),
        "final_loss": round(running, 4),
    }


def _share_by_half(flags: Sequence[bool], known: Sequence[bool]) -> dict[str, float]:
    """The share of ``flags`` set among the known-entity questions and among the unknown ones."""
    out = {}
    for label, want in (("known", True), ("unknown", False)):
        rows = [f for f, k in zip(flags, known, strict=True) if k == want]
        out[label] = round(sum(rows) / max(1, len(rows)), 4)
    return out


def measure_recall(
    training: dict[str, Any],
    fmt: ZooTaskFormat,
    *,
    weights_dir: str | Path = ZOO_WEIGHTS_DIR,
    data_dir: str | Path = ZOO_DATA_DIR,
) -> dict[str, Any]:
    """Measure every recall expert on both splits and write ``weights_dir/recall_record.json``.

    Per split and expert: accuracy on known and unknown entities, closed-book and with the entity's
    document; per split, the share of known and unknown questions on which all three agree closed-book.

    Args:
        training: expert name -> :func:`train_recall`'s facts (kept in the record).
        weights_dir: where the expert folders are and the record goes.
        data_dir: where ``zoo_recall_*.jsonl`` are.
        fmt: rendering and scoring.
    """
    docs = {e.doc_id: e.document() for e in generate_kb(FACTS_KB_SEED, FACTS_KB_SIZE)}
    record: dict[str, Any] = {"training": training, "splits": {}}
    for split in ("validation", "test"):
        rows = read_rows(recall_split_path(split, data_dir))
        known = [bool(r["known"]) for r in rows]
        out: dict[str, Any] = {"n": len(rows), "experts": {}}
        closed_answers = []
        for spec in RECALL_SPECS:
            folder = Path(weights_dir) / spec.name
            books = {}
            for book, passages in (("closed", [()] * len(rows)), ("open", [(docs[r["doc"]],) for r in rows])):
                prompts = [fmt.prompt(r, p) for r, p in zip(rows, passages, strict=True)]
                res = evaluate_prompts(spec.name, folder, rows, prompts, fmt)
                books[book] = _share_by_half(res["correct"], known)
                if book == "closed":
                    closed_answers.append(res["answers"])
            out["experts"][spec.name] = books
        agree = [len(set(a)) == 1 for a in zip(*closed_answers, strict=True)]
        out["all_agree_closed"] = _share_by_half(agree, known)
        record["splits"][split] = out
    path = Path(weights_dir) / RECALL_RECORD_FILE
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("zoo: wrote %s", path)
    return record
