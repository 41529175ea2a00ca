"""Zoo training: a shared zoo tokenizer, seeded CPU training of each expert, and greedy evaluation.

Each expert is a ``LlamaForCausalLM`` trained from scratch with plain torch (AdamW, linear warmup then
cosine decay) by teacher forcing on the chat-rendered ``question -> "The answer is \\boxed{X}."`` text,
with the loss on the answer tokens (and the closing EOS) only. Training examples are drawn on the fly
from the skill generators with the expert's mixture, never repeating a held-out question. After
training, every expert is evaluated by greedy generation through the real
:class:`~batching.engines.hf_engine.TransformersEngine`, so the recorded accuracies are what a live run
sees.

How a row becomes a prompt and how a reply is scored belong to the orchestrator (``expert_prompt``,
``extract_answer``/``is_correct``); this lower layer takes them as a :class:`ZooTaskFormat` so it never
imports the orchestrator. ``scripts/train_zoo.py`` wires them in.

The tokenizer is trained by :func:`zoo.tiny.train_chat_tokenizer`, like the tiny pool's
(byte-level BPE, the same special tokens, chat template and saved config), with two changes: it is
trained on zoo prompts, so a whole prompt is about 50 tokens, and every digit and capital letter is its
own token, so arithmetic and letter-string skills see one symbol per character.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, pre_tokenizers
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from zoo.spec import ZOO_WEIGHTS_DIR, ExpertSpec, ReaderSpec, has_weights
from zoo.tasks import (
    SKILLS,
    SPLIT_SEEDS,
    ZOO_DATA_DIR,
    ZooQuestion,
    answer_text,
    generate_question,
    generate_split,
    write_rows,
    zoo_splits,
)
from zoo.tiny import random_llama, save_tokenizer, train_chat_tokenizer

logger = logging.getLogger(__name__)

__all__ = [
    "EVAL_MAX_TOKENS",
    "ZooTaskFormat",
    "build_zoo_tokenizer",
    "evaluate_expert",
    "evaluate_prompts",
    "train_expert",
    "train_steps",
    "train_zoo",
    "zoo_summary",
]

ZOO_VOCAB_SIZE = 512
"""BPE vocabulary target: 256 byte symbols, 6 special tokens, the rest merges of template words."""

EVAL_MAX_TOKENS = 32
"""Greedy generation budget: the longest reply (``\\boxed{\\text{ABCDEFG}}``) is about 20 tokens."""

TOKENIZER_SEED = 0
"""Seed of the question sample the tokenizer is trained on."""

ZOO_RECORD_VERSION = 1
"""Bumped whenever ``training_record.json`` changes shape."""

_MARKER_FILE = "zoo_expert.json"
_EVAL_SPLITS = ("eval", "validation", "test")


@dataclass(frozen=True, slots=True, kw_only=True)
class ZooTaskFormat:
    """How zoo rows meet the models; supplied by the orchestrator layer.

    Attributes:
        render_prompt: the user message an expert sees for a row (the live ``expert_prompt``).
        extract: the answer in a generated text (``extract_answer`` with the math format).
        is_correct: whether an extracted answer equals a gold one (``is_correct``).
        vote: the majority answer of ranked experts' answers, ties to the first (``majority_vote``).
        render_passages: the user message for a row with retrieved passages (knowledge-base rows
            ``{"id", "title", "text", "source"}``, best first): the live ``expert_prompt(inst, passages)``.
            Needed only by the reader (:mod:`zoo.reader`) and the context measurements.
    """

    render_prompt: Callable[[dict[str, Any]], str]
    extract: Callable[[str | None], str | None]
    is_correct: Callable[[str | None, str], bool]
    vote: Callable[[Sequence[str | None]], str | None]
    render_passages: Callable[[dict[str, Any], Sequence[dict[str, str]]], str] | None = None

    def prompt(self, row: dict[str, Any], passages: Sequence[dict[str, str]] = ()) -> str:
        """The prompt of ``row``, with a context block when ``passages`` are given.

        Raises:
            ValueError: passages are given but this format has no ``render_passages``.
        """
        if not passages:
            return self.render_prompt(row)
        if self.render_passages is None:
            raise ValueError(
                "ZooTaskFormat.render_passages is not set (orchestrator.bench.demo.zoo_task_format sets it)"
            )
        return self.render_passages(row, passages)


def build_zoo_tokenizer(corpus: Iterable[str], vocab_size: int = ZOO_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train the zoo's byte-level BPE tokenizer on ``corpus`` (deterministic for a given corpus).

    Digits and capital letters are split off before byte-level pre-tokenization, so each is always a
    token of its own and no merge can glue them to neighbours.

    Args:
        corpus: training texts (rendered prompts and replies).
        vocab_size: target vocabulary size.

    Returns:
        A fast tokenizer with the tiny models' special tokens, BOS post-processor and chat template.
    """
    pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("[0-9A-Z]"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return train_chat_tokenizer(corpus, vocab_size=vocab_size, pre_tokenizer=pre_tokenizer)


def tokenizer_corpus(fmt: ZooTaskFormat, seed: int = 0, n_per_skill: int = 200) -> list[str]:
    """Rendered prompts and replies of a seeded sample of every skill: the tokenizer's training text."""
    rows = generate_split(seed, n_per_skill, SKILLS)
    return [fmt.render_prompt(r) for r in rows] + [answer_text(r["answer"]) for r in rows]


def _prompt_ids(tokenizer: PreTrainedTokenizerFast, prompt: str) -> list[int]:
    """Token ids of the generation prompt exactly as ``TransformersEngine`` renders and tokenizes it."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _make_batch(
    tokenizer: PreTrainedTokenizerFast, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside answer + EOS)."""
    eos = tokenizer.eos_token_id
    answer_ids = tokenizer([answer_text(a) for a in answers], add_special_tokens=False)["input_ids"]
    seqs: list[tuple[list[int], list[int]]] = []
    for prompt, ans in zip(prompts, answer_ids, strict=True):
        seqs.append((_prompt_ids(tokenizer, prompt), [*ans, eos]))
    width = max(len(p) + len(a) for p, a in seqs)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, (p, a) in enumerate(seqs):
        n = len(p) + len(a)
        ids[i, :n] = torch.tensor(p + a)
        mask[i, :n] = 1
        labels[i, len(p) : n] = torch.tensor(a)
    return ids, mask, labels


def _row(q: ZooQuestion) -> dict[str, Any]:
    return {"question": q.question, "answer": q.answer, "category": q.skill, "kind": "math"}


def _draw_examples(
    rng: random.Random, weights: dict[str, float], n: int, excluded: set[str]
) -> list[ZooQuestion]:
    """``n`` training questions, each skill drawn with its weight, never one of ``excluded``."""
    skills, probs = list(weights), list(weights.values())
    out: list[ZooQuestion] = []
    while len(out) < n:
        q = generate_question(rng.choices(skills, probs)[0], rng)
        if q.question not in excluded:
            out.append(q)
    return out


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warmup to 1, then cosine decay to 0.1."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_model(spec: ExpertSpec | ReaderSpec, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised tied-embedding Llama of the spec's shape (an expert's or the reader's)."""
    return random_llama(
        tokenizer,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_layers=spec.num_layers,
        num_heads=spec.num_heads,
        num_kv_heads=spec.num_heads,
        seed=spec.seed,
        tie_word_embeddings=True,  # halves the embedding cost of a tiny model; vLLM loads tied Llamas
    )


def train_steps(
    model: LlamaForCausalLM,
    step_loss: Callable[[int], torch.Tensor],
    *,
    name: str,
    steps: int,
    lr: float,
    seed: int,
    log_every: int,
    start: float,
) -> float:
    """The zoo's training loop: AdamW (no decay on norms), linear warmup then cosine decay, gradient
    clipping at 1.0, torch seeded with ``seed``; ``step_loss(step)`` draws a batch and returns its loss.

    Returns:
        The running (exponentially smoothed) loss at the end.
    """
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        betas=(0.9, 0.98),
    )
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, warmup))
    running = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(steps):
            loss = step_loss(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running = loss.item() if step == 0 else 0.95 * running + 0.05 * loss.item()
            if (step + 1) % log_every == 0 or step + 1 == steps:
                elapsed = time.perf_counter() - start
                logger.info("zoo: %s step %d/%d loss %.4f (%.0fs)", name, step + 1, steps, running, elapsed)
    return running


def train_expert(
    spec: ExpertSpec,
    tokenizer: PreTrainedTokenizerFast,
    fmt: ZooTaskFormat,
    out_dir: str | Path,
    *,
    exclude: Iterable[str] = (),
    log_every: int = 100,
) -> dict[str, Any]:
    """Train one expert from scratch and save it (model, tokenizer, marker) to ``out_dir``.

    Deterministic for a given spec, tokenizer and thread count: weights come from ``spec.seed`` and
    examples from ``random.Random(f"train-{spec.name}-{spec.seed}")``.

    Args:
        spec: the expert.
        tokenizer: the zoo tokenizer (saved beside the weights).
        fmt: prompt rendering (scoring is not used here).
        out_dir: model folder to write; replaced atomically.
        exclude: question texts never to train on (the held-out sets).
        log_every: steps between INFO progress lines.

    Returns:
        Training facts: ``params``, ``steps``, ``wall_s``, ``final_loss``, ``examples_per_skill``.
    """
    start = time.perf_counter()
    excluded = set(exclude)
    model = build_model(spec, tokenizer)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("zoo: training %s (%d params, spec %s)", spec.name, n_params, spec)
    rng = random.Random(f"train-{spec.name}-{spec.seed}")
    counts = dict.fromkeys(SKILLS, 0)

    def step_loss(step: int) -> torch.Tensor:
        batch = _draw_examples(rng, spec.skill_weights(), spec.batch_size, excluded)
        for q in batch:
            counts[q.skill] += 1
        prompts = [fmt.render_prompt(_row(q)) for q in batch]
        ids, mask, labels = _make_batch(tokenizer, prompts, [q.answer for q in batch])
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    running = train_steps(model, step_loss, name=spec.name, steps=spec.steps, lr=spec.lr, seed=spec.seed,
                          log_every=log_every, start=start)  # fmt: skip
    model.eval()
    wall_s = time.perf_counter() - start
    _save_expert(model, tokenizer, spec, Path(out_dir), n_params)
    return {
        "params": n_params,
        "steps": spec.steps,
        "wall_s": round(wall_s, 1),
        "final_loss": round(running, 4),
        "examples_per_skill": counts,
    }


def _save_expert(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, spec: ExpertSpec, out: Path, n_params: int
) -> None:
    marker = {"name": spec.name, "params": n_params, "skills": list(spec.skills), "seed": spec.seed}
    save_trained(model, tokenizer, out, marker)


def save_trained(
    model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, out: Path, marker: dict[str, Any]
) -> None:
    """Write a trained zoo model, its tokenizer and its marker file to ``out``: built in a temporary folder
    beside it, then renamed over the old one, so a crash mid-write never leaves a half-written ``out``."""
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    save_tokenizer(tokenizer, tmp)
    (tmp / _MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def evaluate_expert(
    name: str,
    model_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    fmt: ZooTaskFormat,
    *,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Greedy accuracy of one saved expert per category, through ``TransformersEngine``.

    Args:
        name: expert name (for the engine config and logs).
        model_dir: the saved model folder.
        rows: question rows (``category`` groups the accuracy).
        fmt: prompt rendering and scoring.
        batch_size: prompts per ``generate`` call.

    Returns:
        ``per_skill`` (category -> accuracy in [0, 1]), ``overall``, ``n``, and per row ``answers``
        (extracted, or None) and ``correct``.
    """
    prompts = [fmt.render_prompt(row) for row in rows]
    return evaluate_prompts(name, model_dir, rows, prompts, fmt, batch_size=batch_size)


def evaluate_prompts(
    name: str,
    model_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    prompts: Sequence[str],
    fmt: ZooTaskFormat,
    *,
    batch_size: int = 64,
    max_tokens: int = EVAL_MAX_TOKENS,
) -> dict[str, Any]:
    """:func:`evaluate_expert` with the prompts given (e.g. rendered with retrieved passages).

    Args:
        name: expert name (for the engine config and logs).
        model_dir: the saved model folder.
        rows: question rows, one per prompt (gold ``answer``; ``category`` groups the accuracy).
        prompts: the user message of each row.
        fmt: scoring.
        batch_size: prompts per ``generate`` call.
        max_tokens: greedy generation budget.

    Returns:
        As :func:`evaluate_expert`.
    """
    from batching.config import TransformersExpertConfig
    from batching.engines.hf_engine import TransformersEngine
    from common.generation import GenRequest, SamplingParams

    cfg = TransformersExpertConfig(name=name, model=str(model_dir), dtype="float32", batch_size=batch_size)
    sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    requests = [
        GenRequest(request_id=f"{name}:{i}", prompt=prompt, messages=(("user", prompt),), sampling=sampling)
        for i, prompt in enumerate(prompts)
    ]
    engine = TransformersEngine(cfg)
    try:
        results = engine.generate(requests)
    finally:
        engine.close()
    answers = [fmt.extract(r.text) for r in results]
    correct = [fmt.is_correct(a, str(row["answer"])) for a, row in zip(answers, rows, strict=True)]
    return {
        "per_skill": _per_category(rows, correct),
        "overall": round(sum(correct) / max(1, len(correct)), 4),
        "n": len(rows),
        "answers": answers,
        "correct": correct,
    }


def _per_category(rows: Sequence[dict[str, Any]], correct: Sequence[bool]) -> dict[str, float]:
    per: dict[str, list[bool]] = {}
    for row, ok in zip(rows, correct, strict=True):
        per.setdefault(str(row["category"]), []).append(ok)
    return {c: round(sum(v) / len(v), 4) for c, v in per.items()}


def zoo_summary(
    evals: dict[str, dict[str, dict[str, Any]]],
    test_rows: Sequence[dict[str, Any]],
    fmt: ZooTaskFormat,
    k: int = 3,
) -> dict[str, Any]:
    """Reference accuracies on the test split: best single expert, oracle routing, top-k majority.

    Experts are chosen on the validation split and scored on the test split, as a routing policy
    would be: the oracle sends each category to the expert best on that category's validation
    questions; the top-k majority asks the ``k`` experts best on the whole validation split and takes
    their majority answer (ties to the better-ranked expert).

    Args:
        evals: ``expert -> split -> evaluate_expert result`` with ``validation`` and ``test``.
        test_rows: the test split, in the order the test results are in.
        fmt: scoring and voting.
        k: experts in the global majority.

    Returns:
        ``best_single`` (name and accuracy), ``oracle_routing`` (accuracy and the category -> expert
        map), ``top_k_majority`` (accuracy and experts); accuracies in [0, 1].
    """
    experts = list(evals)
    val = {e: evals[e]["validation"] for e in experts}
    test = {e: evals[e]["test"] for e in experts}
    best = max(experts, key=lambda e: test[e]["overall"])
    categories = list(dict.fromkeys(str(r["category"]) for r in test_rows))
    route = {c: max(experts, key=lambda e: val[e]["per_skill"][c]) for c in categories}
    oracle = [test[route[str(r["category"])]]["correct"][i] for i, r in enumerate(test_rows)]
    ranked = sorted(experts, key=lambda e: -val[e]["overall"])[:k]
    votes = [fmt.vote([test[e]["answers"][i] for e in ranked]) for i in range(len(test_rows))]
    majority = [fmt.is_correct(v, str(r["answer"])) for v, r in zip(votes, test_rows, strict=True)]
    return {
        "best_single": {"expert": best, "accuracy": test[best]["overall"]},
        "oracle_routing": {"accuracy": round(sum(oracle) / len(oracle), 4), "route": route},
        "top_k_majority": {"k": k, "experts": ranked, "accuracy": round(sum(majority) / len(majority), 4)},
    }


def train_zoo(
    specs: Sequence[ExpertSpec],
    fmt: ZooTaskFormat,
    *,
    weights_dir: str | Path = ZOO_WEIGHTS_DIR,
    data_dir: str | Path = ZOO_DATA_DIR,
    threads: int = 1,
) -> dict[str, Any]:
    """Write the benchmark files, train and evaluate ``specs`` one after another, write the record.

    The record (``<weights_dir>/training_record.json``) keeps entries of experts not in ``specs``, so
    one expert can be retrained alone; the test-split summary covers every expert whose folder exists.

    Args:
        specs: experts to (re)train.
        fmt: prompt rendering, extraction, scoring and voting.
        weights_dir: where expert folders and the record go.
        data_dir: where ``zoo_validation.jsonl`` and ``zoo_test.jsonl`` go.
        threads: torch intra-op threads (1 is fastest on a shared 2-core machine).

    Returns:
        The record as written.
    """
    torch.set_num_threads(threads)
    weights, data = Path(weights_dir), Path(data_dir)
    splits = zoo_splits()
    write_rows(splits["validation"], data / "zoo_validation.jsonl")
    write_rows(splits["test"], data / "zoo_test.jsonl")
    held_out = {r["question"] for rows in splits.values() for r in rows}
    tokenizer = build_zoo_tokenizer(tokenizer_corpus(fmt, seed=TOKENIZER_SEED))
    record_path = weights / "training_record.json"
    record: dict[str, Any] = {"experts": {}}
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
    for spec in specs:
        facts = train_expert(spec, tokenizer, fmt, weights / spec.name, exclude=held_out)
        record["experts"][spec.name] = {"spec": asdict(spec), **facts, "threads": threads}
    present = [n for n in record["experts"] if has_weights(n, weights)]
    record["experts"] = {n: record["experts"][n] for n in present}  # drop entries of deleted experts
    evals: dict[str, dict[str, dict[str, Any]]] = {}
    for name in present:
        evals[name] = {s: evaluate_expert(name, weights / name, splits[s], fmt) for s in _EVAL_SPLITS}
        for split, result in evals[name].items():
            record["experts"][name][split] = {"per_skill": result["per_skill"], "overall": result["overall"]}
        logger.info("zoo: %s held-out accuracy %s", name, record["experts"][name]["eval"]["per_skill"])
    record.update(
        {
            "version": ZOO_RECORD_VERSION,
            "splits": {k: {"seed": s, "per_skill": n} for k, (s, n) in SPLIT_SEEDS.items()},
            "skills": list(SKILLS),
            "tokenizer": {"vocab_size": len(tokenizer), "seed": TOKENIZER_SEED},
            "torch": torch.__version__,
            "total_train_wall_s": round(sum(e["wall_s"] for e in record["experts"].values()), 1),
            "test_summary": zoo_summary(evals, splits["test"], fmt),
        }
    )
    weights.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("zoo: wrote %s; test summary %s", record_path, record["test_summary"])
    return record
