"""Tests for the transformers engine, run for real on the tiny local Llama pool (CPU, float32)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from engine_requests import GREEDY, PROMPTS, mixed_requests

from batching.config import TransformersExpertConfig
from batching.engines.hf_engine import TransformersEngine
from batching.engines.registry import build_engine
from common.errors import ConfigError, EngineDeadError
from common.generation import GenRequest, GenResult, SamplingParams
from zoo.tiny import MAX_POSITION_EMBEDDINGS


def _engine(path: Path, **overrides: object) -> TransformersEngine:
    cfg = TransformersExpertConfig(name=path.name, model=str(path), dtype="float32", **overrides)
    return TransformersEngine(cfg)


@pytest.fixture(scope="module")
def xs_path(tiny_pool: dict[str, Path]) -> Path:
    return tiny_pool["tiny-llama-xs"]


@pytest.fixture(scope="module")
def xs_engine(xs_path: Path) -> TransformersEngine:
    """One loaded engine shared by the read-only tests (loading is the slow part)."""
    engine = _engine(xs_path, batch_size=4)
    engine.load()
    return engine


def _stop_candidate(text: str) -> str:
    """A short plain-ASCII piece of ``text`` after its start, to use as a stop string."""
    match = re.search(r"[a-z]{2,3}", text[1:])
    assert match is not None, f"no stop candidate in {text!r}"
    return match.group(0)


def test_registry_builds_transformers_engine(xs_path: Path) -> None:
    engine = build_engine(TransformersExpertConfig(name="xs", model=str(xs_path)))
    assert isinstance(engine, TransformersEngine)
    assert engine.kind == "transformers"
    assert not engine.is_loaded


def test_mixed_batch_returns_input_order(xs_engine: TransformersEngine) -> None:
    batch = mixed_requests()
    results = xs_engine.generate(batch)
    assert [r.request_id for r in results] == [r.request_id for r in batch]
    tok = xs_engine._tokenizer
    for req, res in zip(batch, results, strict=True):
        assert res.error is None and res.text is not None
        assert res.finish_reason in {"stop", "length"}
        assert 1 <= res.generated_tokens <= GREEDY.max_tokens
        if req.messages:
            rendered = tok.apply_chat_template(
                [{"role": r, "content": c} for r, c in req.messages],
                tokenize=False,
                add_generation_prompt=True,
            )
            assert res.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
        else:
            assert res.prompt_tokens == len(tok(req.prompt)["input_ids"])
    assert len({r.prompt_tokens for r in results}) > 3  # really mixed lengths, so padding is exercised


def test_greedy_is_deterministic_and_batch_invariant(xs_engine: TransformersEngine) -> None:
    """In float32 on CPU, left padding changes nothing: the attention mask zeroes padded keys exactly
    and positions come from the mask, so each row's logits match the unpadded run to the bit here."""
    batch = mixed_requests()
    together = xs_engine.generate(batch)
    assert xs_engine.generate(batch) == together
    alone = [xs_engine.generate([req])[0] for req in batch]
    assert [r.text for r in alone] == [r.text for r in together]
    assert [r.generated_tokens for r in alone] == [r.generated_tokens for r in together]


@pytest.mark.parametrize("name", ["tiny-llama-s", "tiny-llama-l"])
def test_other_pool_models_generate_in_batches(tiny_pool: dict[str, Path], name: str) -> None:
    engine = _engine(tiny_pool[name], batch_size=2)  # several chunks per call
    sampling = SamplingParams(temperature=0.0, max_tokens=6)
    batch = mixed_requests(sampling)
    results = engine.generate(batch)
    assert [r.request_id for r in results] == [r.request_id for r in batch]
    assert all(r.text is not None and 1 <= r.generated_tokens <= 6 for r in results)
    assert [engine.generate([req])[0].text for req in batch[:2]] == [r.text for r in results[:2]]
    engine.unload()


def test_counters_and_reload(xs_path: Path) -> None:
    engine = _engine(xs_path)
    first = engine.generate(mixed_requests()[:3])
    second = engine.generate(mixed_requests()[3:])
    c = engine.counters
    assert (c.loads, c.unloads, c.requests) == (1, 0, 6)
    assert c.generated_tokens == sum(r.generated_tokens for r in first + second)
    assert c.prompt_tokens == sum(r.prompt_tokens for r in first + second)
    engine.unload()
    assert not engine.is_loaded and engine._model is None
    engine.generate(mixed_requests()[:1])
    assert (c.loads, c.unloads, c.requests) == (2, 1, 7)
    engine.close()
    assert c.unloads == 2


def test_max_tokens_respected(xs_engine: TransformersEngine) -> None:
    for max_tokens in (1, 5):
        sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
        results = xs_engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=sampling)])
        assert results[0].generated_tokens == max_tokens  # random weights never emit EOS this early here
        assert results[0].finish_reason == "length"
    full = xs_engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=GREEDY)])[0]
    short = xs_engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=sampling)])[0]
    assert full.text is not None and short.text is not None and full.text.startswith(short.text)


def test_stop_string_truncates(xs_engine: TransformersEngine) -> None:
    sampling = SamplingParams(temperature=0.0, max_tokens=24)
    plain = xs_engine.generate([GenRequest(request_id="a", prompt=PROMPTS[1], sampling=sampling)])[0]
    assert plain.text is not None
    stop = _stop_candidate(plain.text)
    stopped_sampling = SamplingParams(temperature=0.0, max_tokens=24, stop=(stop, "never-seen"))
    batch = [
        GenRequest(request_id="stop", prompt=PROMPTS[1], sampling=stopped_sampling),
        GenRequest(request_id="plain", prompt=PROMPTS[1], sampling=sampling),  # other group: no stop applied
    ]
    stopped, again = xs_engine.generate(batch)
    assert stopped.text == plain.text[: plain.text.index(stop)]
    assert stopped.finish_reason == "stop"
    assert 1 <= stopped.generated_tokens < plain.generated_tokens
    assert again == GenResult(
        request_id="plain",
        text=plain.text,
        prompt_tokens=plain.prompt_tokens,
        generated_tokens=plain.generated_tokens,
        finish_reason="length",
    )


def test_eos_stops_generation(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    """Declare a token the model emits greedily as an extra EOS, and generation must end there."""
    model_dir = shutil.copytree(tiny_pool["tiny-llama-xs"], tmp_path / "xs-eos")
    engine = _engine(model_dir)
    plain = engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=GREEDY)])[0]
    # the raw greedy ids (decoded text of random tokens does not re-tokenize to the same ids)
    prompt_ids = engine._tokenizer(PROMPTS[0], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = engine._model.generate(prompt_ids, max_new_tokens=4, do_sample=False)
    new_ids = out[0, prompt_ids.shape[1] :].tolist()
    engine.close()
    gen_cfg_path = model_dir / "generation_config.json"
    gen_cfg = json.loads(gen_cfg_path.read_text())
    gen_cfg["eos_token_id"] = [gen_cfg["eos_token_id"], new_ids[2]]
    gen_cfg_path.write_text(json.dumps(gen_cfg))
    cut = _engine(model_dir).generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=GREEDY)])[0]
    assert cut.finish_reason == "stop"
    assert cut.generated_tokens == new_ids.index(new_ids[2]) + 1  # counts the EOS token itself
    assert cut.text is not None and plain.text is not None
    assert plain.text.startswith(cut.text) and len(cut.text) < len(plain.text)


def test_seeded_sampling_is_reproducible_and_keeps_global_rng(xs_engine: TransformersEngine) -> None:
    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12, seed=7)
    other = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12, seed=8)
    batch = [GenRequest(request_id="a", prompt=PROMPTS[0], sampling=sampling)]
    state = torch.random.get_rng_state()
    first = xs_engine.generate(batch)
    assert torch.equal(state, torch.random.get_rng_state())
    assert xs_engine.generate(batch) == first
    mixed = xs_engine.generate([GenRequest(request_id="g", prompt=PROMPTS[0], sampling=GREEDY), *batch])
    assert mixed[1] == first[0]  # a greedy neighbour lands in another group and changes nothing
    assert xs_engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=other)]) != first


def test_over_long_prompt_is_an_error_result(xs_engine: TransformersEngine) -> None:
    tok = xs_engine._tokenizer
    long_prompt = "What is 12 plus 7? " * 400
    assert len(tok(long_prompt, verbose=False)["input_ids"]) >= MAX_POSITION_EMBEDDINGS
    results = xs_engine.generate(
        [
            GenRequest(request_id="long", prompt=long_prompt, sampling=GREEDY),
            GenRequest(request_id="ok", prompt=PROMPTS[0], sampling=GREEDY),
        ]
    )
    assert results[0].text is None
    assert results[0].error is not None and "context of 2048" in results[0].error
    assert results[0].generated_tokens == 0 and results[0].prompt_tokens > MAX_POSITION_EMBEDDINGS
    assert results[1].error is None and results[1].text is not None


def test_generation_is_clamped_to_context(xs_engine: TransformersEngine) -> None:
    unit = " 12 plus 7"
    n_unit = len(xs_engine._tokenizer(unit, add_special_tokens=False)["input_ids"])
    prompt = unit * ((MAX_POSITION_EMBEDDINGS - 8) // n_unit)
    n_prompt = len(xs_engine._tokenizer(prompt)["input_ids"])
    room = MAX_POSITION_EMBEDDINGS - n_prompt
    assert 0 < room < 12
    sampling = SamplingParams(temperature=0.0, max_tokens=64)
    result = xs_engine.generate([GenRequest(request_id="edge", prompt=prompt, sampling=sampling)])[0]
    assert result.error is None
    assert result.generated_tokens <= room


def test_config_chat_template_overrides_model_template(xs_path: Path) -> None:
    engine = _engine(xs_path, chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}")
    result = engine.generate(
        [GenRequest(request_id="m", messages=(("user", "What is 3 times 4?"),), sampling=GREEDY)]
    )
    tok = engine._tokenizer
    assert result[0].prompt_tokens == len(tok("What is 3 times 4?", add_special_tokens=False)["input_ids"])
    engine.close()


def test_chat_without_template_is_a_config_error(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    model_dir = shutil.copytree(tiny_pool["tiny-llama-xs"], tmp_path / "xs-no-template")
    (model_dir / "chat_template.jinja").unlink()
    tok_cfg_path = model_dir / "tokenizer_config.json"
    tok_cfg = json.loads(tok_cfg_path.read_text())
    del tok_cfg["chat_template"]
    tok_cfg_path.write_text(json.dumps(tok_cfg))
    engine = _engine(model_dir)
    assert engine.generate([GenRequest(request_id="p", prompt="Hi", sampling=GREEDY)])[0].error is None
    with pytest.raises(ConfigError, match="no chat template"):
        engine.generate([GenRequest(request_id="m", messages=(("user", "Hi"),), sampling=GREEDY)])


def test_missing_model_is_engine_dead_error(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "does-not-exist")
    with pytest.raises(EngineDeadError, match="load failed") as info:
        engine.load()
    assert info.value.engine == "transformers"
    assert info.value.model == str(tmp_path / "does-not-exist")
    assert info.value.__cause__ is not None
    assert engine.counters.loads == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error path")
def test_cuda_device_without_cuda_is_engine_dead_error(xs_path: Path) -> None:
    with pytest.raises(EngineDeadError, match="CUDA is not available"):
        _engine(xs_path, device="cuda").load()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half_precision_batch_and_unload(tiny_pool: dict[str, Path]) -> None:
    engine = TransformersEngine(
        TransformersExpertConfig(
            name="l", model=str(tiny_pool["tiny-llama-l"]), device="cuda", dtype="bfloat16", batch_size=3
        )
    )
    before = torch.cuda.memory_allocated()
    batch = mixed_requests()
    results = engine.generate(batch)
    assert [r.request_id for r in results] == [r.request_id for r in batch]
    assert all(r.text is not None and r.error is None for r in results)
    assert engine.generate(batch) == results  # greedy is deterministic for a fixed batch
    assert torch.cuda.memory_allocated() > before
    engine.unload()
    assert torch.cuda.memory_allocated() <= before
