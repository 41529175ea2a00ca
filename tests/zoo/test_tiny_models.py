"""Tests for the tiny local model pool: deterministic builds, distinct sizes, loadable checkouts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from zoo.tiny import (
    CHAT_TEMPLATE,
    MAX_POSITION_EMBEDDINGS,
    TINY_POOL_NAMES,
    build_tiny_model,
    build_tiny_tokenizer,
    ensure_tiny_pool,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(out: Path, seed: int) -> Path:
    return build_tiny_model(
        out, name="t", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=64, seed=seed
    )


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    a, b, c = _build(tmp_path / "a", 5), _build(tmp_path / "b", 5), _build(tmp_path / "c", 6)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _sha256(a / name) == _sha256(b / name), name
    assert _sha256(a / "model.safetensors") != _sha256(c / "model.safetensors")


def test_build_leaves_global_rng_alone(tmp_path: Path) -> None:
    import torch

    state = torch.random.get_rng_state()
    _build(tmp_path / "m", 1)
    assert torch.equal(state, torch.random.get_rng_state())


def test_bad_head_split_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="divisible by num_heads"):
        build_tiny_model(
            tmp_path, name="bad", hidden_size=65, num_layers=1, num_heads=2, intermediate_size=8, seed=0
        )


def test_tokenizer_round_trips_and_renders_chat() -> None:
    tok = build_tiny_tokenizer()
    assert len(tok) == 512
    text = "What is 12 plus 7? (A) 19 (B) 20\nThe answer is (A). Ünïcödé ok"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<s><|user|>\nHi</s>\n<|assistant|>\n"
    assert {tok.pad_token, tok.bos_token, tok.eos_token} == {"<pad>", "<s>", "</s>"}


def test_pool_has_distinct_sizes_and_loads(tiny_pool: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert tuple(tiny_pool) == TINY_POOL_NAMES
    params = []
    for name, path in tiny_pool.items():
        marker = json.loads((path / "tiny_model.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(path)
        n_params = sum(p.numel() for p in model.parameters())
        assert marker["name"] == name
        assert marker["params"] == n_params
        assert model.config.max_position_embeddings == MAX_POSITION_EMBEDDINGS
        assert model.config.hidden_size % model.config.num_attention_heads == 0
        params.append(n_params)
        tok = AutoTokenizer.from_pretrained(path)
        assert tok.chat_template == CHAT_TEMPLATE
        assert model.config.vocab_size == len(tok)
    assert params == sorted(params) and len(set(params)) == len(params)
    assert 50_000 < params[0] < 200_000 and params[-1] < 2_500_000


def test_tokenizer_config_is_readable_by_transformers_4(tiny_pool: dict[str, Path]) -> None:
    cfg = json.loads((tiny_pool[TINY_POOL_NAMES[0]] / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert cfg["chat_template"] == CHAT_TEMPLATE


def test_pool_is_shared_tokenizer(tiny_pool: dict[str, Path]) -> None:
    hashes = {_sha256(path / "tokenizer.json") for path in tiny_pool.values()}
    assert len(hashes) == 1


def test_ensure_is_idempotent_and_rebuilds_stale(tmp_path: Path) -> None:
    paths = ensure_tiny_pool(tmp_path)
    weights = paths[TINY_POOL_NAMES[0]] / "model.safetensors"
    before = weights.stat().st_mtime_ns
    digest = _sha256(weights)
    assert ensure_tiny_pool(tmp_path) == paths
    assert weights.stat().st_mtime_ns == before
    marker = paths[TINY_POOL_NAMES[0]] / "tiny_model.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "version": -1}))
    ensure_tiny_pool(tmp_path)
    assert json.loads(marker.read_text())["version"] != -1
    assert _sha256(weights) == digest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
