"""Tiny local Llama-architecture models (random weights, locally trained tokenizer) for tests and demos.

Nothing is downloaded: the tokenizer is a byte-level BPE trained with ``tokenizers`` on a small corpus
generated here, and each model is a ``LlamaForCausalLM`` with seeded random weights. Every model folder is
a standard ``save_pretrained`` checkout (``config.json``, ``model.safetensors``, ``generation_config.json``,
``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja``) that transformers and vLLM load
like any other local model. Outputs are gibberish; the models exist to exercise loading, batching,
padding, sampling and counters, not to answer questions.

Example::

    from zoo.tiny import ensure_tiny_pool

    paths = ensure_tiny_pool(tmp_dir)  # {"tiny-llama-xs": Path(...), ...}; builds only what is missing
    cfg = TransformersExpertConfig(name="tiny-llama-xs", model=str(paths["tiny-llama-xs"]))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from common.settings import expand_path

logger = logging.getLogger(__name__)

DEFAULT_TINY_ROOT = Path("$SYMOE_HOME/tiny-models")
"""Where ``ensure_tiny_pool`` builds when no root is given (``$SYMOE_HOME`` is resolved at call time)."""

TINY_FORMAT_VERSION = 1
"""Bumped whenever a change alters what the builder writes, so stale pool folders are rebuilt."""

MAX_POSITION_EMBEDDINGS = 2048
"""Context length of every tiny model: aggregator prompts (several experts' answers) are long."""

BOS_TOKEN, EOS_TOKEN, PAD_TOKEN = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}\n{% endif %}"
)
"""Zephyr-like template: ``<s><|user|>\\nHi</s>\\n<|assistant|>\\n`` (role markers are special tokens)."""

_MARKER_FILE = "tiny_model.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class TinyModelSpec:
    """The shape of one tiny model; ``head_dim = hidden_size // num_heads`` is kept at 64 (vLLM-friendly)."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    num_kv_heads: int | None = None
    seed: int = 0


TINY_POOL_SPECS: tuple[TinyModelSpec, ...] = (
    TinyModelSpec(
        name="tiny-llama-xs", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128, seed=1
    ),
    TinyModelSpec(
        name="tiny-llama-s", hidden_size=128, num_layers=2, num_heads=2, intermediate_size=256, seed=2
    ),
    TinyModelSpec(
        name="tiny-llama-m", hidden_size=192, num_layers=3, num_heads=3, intermediate_size=512, seed=3
    ),
    TinyModelSpec(
        name="tiny-llama-l",
        hidden_size=256,
        num_layers=2,
        num_heads=4,
        intermediate_size=768,
        num_kv_heads=2,  # one grouped-query model so GQA paths run too
        seed=4,
    ),
)
"""The pool, smallest first: about 0.1M, 0.45M, 1.5M and 1.8M parameters with the default tokenizer."""

TINY_POOL_NAMES: tuple[str, ...] = tuple(spec.name for spec in TINY_POOL_SPECS)

DEFAULT_VOCAB_SIZE = 512
"""Target BPE vocabulary (256 byte symbols, 6 special tokens, the rest merges)."""


def _corpus() -> list[str]:
    """A few hundred deterministic sentences shaped like the prompts the pipeline sends."""
    rng = random.Random(1234)
    subjects = ["math", "physics", "chemistry", "biology", "history", "law", "economics", "psychology"]
    subjects += ["philosophy", "engineering", "computer science", "health", "business", "other"]
    nouns = ["cell", "atom", "force", "market", "court", "theorem", "proof", "energy", "gene", "river"]
    nouns += ["king", "price", "mind", "circuit", "protein", "contract", "signal", "number", "planet"]
    verbs = ["explains", "describes", "changes", "measures", "predicts", "requires", "contains", "shows"]
    letters = "ABCDEFGHIJ"
    lines: list[str] = []
    for _ in range(120):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        op, value = rng.choice([("plus", a + b), ("minus", a - b), ("times", a * b)])
        lines.append(f"What is {a} {op} {b}?")
        lines.append(f"{a} {op} {b} equals {value}, so the answer is {value}.")
    for _ in range(120):
        k = rng.randint(4, 10)
        options = " ".join(
            f"({letters[i]}) {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}"
            for i in range(k)
        )
        subject = rng.choice(subjects)
        lines.append(f"The following is a multiple choice question about {subject}. {options}")
        lines.append(f"Let's think step by step. The answer is ({rng.choice(letters[:k])}).")
    for _ in range(80):
        lines.append(
            f"Which {rng.choice(nouns)} {rng.choice(verbs)} a {rng.choice(nouns)} in {rng.choice(subjects)}?"
        )
        lines.append(f"Expert {rng.randint(1, 9)} says: the {rng.choice(nouns)} {rng.choice(verbs)} it.")
    lines.append("You are a helpful assistant. Answer with the letter of the correct option.")
    lines.append("Given the responses of several experts, give the single best final answer.")
    return lines


def build_tiny_tokenizer(vocab_size: int = DEFAULT_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on the built-in corpus (deterministic, well under a second).

    Args:
        vocab_size: target vocabulary size; the result may be smaller if the corpus runs out of merges.

    Returns:
        A fast tokenizer with ``<s>``/``</s>``/``<pad>`` tokens, role tokens, a BOS-prepending
        post-processor and a chat template, so ``apply_chat_template`` works.
    """
    return train_chat_tokenizer(
        _corpus(), vocab_size=vocab_size, pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False)
    )


def train_chat_tokenizer(
    corpus: Iterable[str], *, vocab_size: int, pre_tokenizer: pre_tokenizers.PreTokenizer
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE chat tokenizer on ``corpus`` (deterministic for a given corpus).

    The tiny pool's and the skill zoo's tokenizers are both built here; they differ only in corpus, size
    and pre-tokenizer.

    Args:
        corpus: training texts.
        vocab_size: target vocabulary size; the result may be smaller if the corpus runs out of merges.
        pre_tokenizer: splits text before BPE; it must end in ``ByteLevel(add_prefix_space=False)``,
            which the byte-level decoder undoes.

    Returns:
        A fast tokenizer with ``<s>``/``</s>``/``<pad>`` tokens, role tokens, a BOS-prepending
        post-processor and :data:`CHAT_TEMPLATE`, so ``apply_chat_template`` works.
    """
    special = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, *ROLE_TOKENS]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(corpus), trainer=trainer)
    bos_id = backend.token_to_id(BOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        extra_special_tokens=list(ROLE_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITION_EMBEDDINGS,
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> None:
    """Save a :func:`train_chat_tokenizer` tokenizer to ``out_dir``, readable by transformers 4.x too.

    vLLM may pin transformers 4.x. transformers 5 writes ``tokenizer_class: TokenizersBackend`` and keeps
    the template only in ``chat_template.jinja``; 4.x knows neither, so ``tokenizer_config.json`` also
    gets the classic class name (an alias in 5.x), the template inline and ``additional_special_tokens``.
    """
    tokenizer.save_pretrained(out_dir)
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg["additional_special_tokens"] = list(ROLE_TOKENS)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build_tiny_model(
    out_dir: str | Path,
    *,
    name: str,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    seed: int,
    num_kv_heads: int | None = None,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> Path:
    """Write one tiny ``LlamaForCausalLM`` with seeded random weights and a tokenizer to ``out_dir``.

    The global torch RNG is forked, so building does not disturb the caller's random state; the same
    arguments always give byte-identical ``model.safetensors``.

    Args:
        out_dir: folder to write (created; existing files are overwritten).
        name: model name, recorded in the folder's ``tiny_model.json``.
        hidden_size: model width; must be divisible by ``num_heads``.
        num_layers: decoder layers.
        num_heads: attention heads.
        intermediate_size: MLP width.
        vocab_size: tokenizer vocabulary target when ``tokenizer`` is not given (the model's vocabulary
            is the tokenizer's actual size).
        seed: seed of the weight initialisation.
        num_kv_heads: key/value heads (grouped-query attention); defaults to ``num_heads``.
        tokenizer: a tokenizer to share across models; built with :func:`build_tiny_tokenizer` if None.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        ValueError: ``hidden_size`` is not divisible by ``num_heads`` (or ``num_heads`` by ``num_kv_heads``).
    """
    kv_heads = num_kv_heads or num_heads
    if hidden_size % num_heads or num_heads % kv_heads:
        raise ValueError(
            f"tiny model {name!r}: hidden_size={hidden_size} must be divisible by num_heads={num_heads}, "
            f"and num_heads by num_kv_heads={kv_heads}"
        )
    tok = tokenizer if tokenizer is not None else build_tiny_tokenizer(vocab_size)
    model = random_llama(
        tok,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=kv_heads,
        seed=seed,
        tie_word_embeddings=False,
    )
    model.eval()
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    save_tokenizer(tok, path)
    n_params = sum(p.numel() for p in model.parameters())
    marker = {"name": name, "params": n_params, "seed": seed, "version": TINY_FORMAT_VERSION}
    (path / _MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    logger.debug("tiny model %s: %d parameters written to %s", name, n_params, path)
    return path


def random_llama(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    seed: int,
    tie_word_embeddings: bool,
) -> LlamaForCausalLM:
    """A float32 ``LlamaForCausalLM`` with seeded random weights, sized to ``tokenizer``'s vocabulary.

    The model takes its BOS/EOS/PAD ids from ``tokenizer`` and has a :data:`MAX_POSITION_EMBEDDINGS`
    context. Weights are drawn inside a forked torch RNG seeded with ``seed``, so the same arguments
    give the same weights and the caller's random state is untouched.

    Args:
        tokenizer: the tokenizer the model is built for.
        hidden_size: model width.
        intermediate_size: MLP width.
        num_layers: decoder layers.
        num_heads: attention heads.
        num_kv_heads: key/value heads (grouped-query attention when fewer than ``num_heads``).
        seed: seed of the weight initialisation.
        tie_word_embeddings: share the input embedding with the output head.

    Returns:
        The model; the caller puts it in train or eval mode.
    """
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=MAX_POSITION_EMBEDDINGS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=tie_word_embeddings,
        dtype="float32",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def _spec_marker(spec: TinyModelSpec) -> str:
    return hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:16]


def _is_current(path: Path, spec: TinyModelSpec) -> bool:
    """True when ``path`` holds a complete build of exactly this spec and format version."""
    marker = path / _MARKER_FILE
    needed = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    if not marker.is_file() or not all((path / f).is_file() for f in needed):
        return False
    data = json.loads(marker.read_text(encoding="utf-8"))
    return bool(data.get("version") == TINY_FORMAT_VERSION and data.get("spec") == _spec_marker(spec))


def ensure_tiny_pool(root_dir: str | Path | None = None) -> dict[str, Path]:
    """Build the tiny pool under ``root_dir`` where missing or stale; return ``name -> model folder``.

    Each model is written to a temporary sibling folder and renamed into place, so an interrupted build
    or a second process building the same root never leaves a half-written model behind. All models
    share one tokenizer (trained once per call, only if something needs building). The whole pool
    builds in a few seconds on one CPU core.

    Args:
        root_dir: where the model folders live; ``$SYMOE_HOME/tiny-models`` when None.
            Callers that honour an environment variable read it themselves and pass the value here.

    Returns:
        Model folders keyed by name, in ``TINY_POOL_NAMES`` order.
    """
    root = expand_path(root_dir if root_dir is not None else DEFAULT_TINY_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    tokenizer: PreTrainedTokenizerFast | None = None
    paths: dict[str, Path] = {}
    for spec in TINY_POOL_SPECS:
        final = root / spec.name
        paths[spec.name] = final
        if _is_current(final, spec):
            continue
        start = time.perf_counter()
        if tokenizer is None:
            tokenizer = build_tiny_tokenizer()
        tmp = root / f".{spec.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny_model(
            tmp,
            name=spec.name,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            num_heads=spec.num_heads,
            intermediate_size=spec.intermediate_size,
            num_kv_heads=spec.num_kv_heads,
            seed=spec.seed,
            tokenizer=tokenizer,
        )
        marker_path = tmp / _MARKER_FILE
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
        marker["spec"] = _spec_marker(spec)
        marker_path.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:  # another process renamed its build into place first; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info(
            "built tiny model %s (%d params) in %.2fs at %s",
            spec.name,
            marker["params"],
            time.perf_counter() - start,
            final,
        )
    return paths
