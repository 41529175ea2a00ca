"""The journal's model key: every setting that can change an output is in it, so two experts share
generations only when they are one model, and a pool that lists one model twice is refused.

The end-to-end case is two ``openai_http`` experts with the same model id on two real local servers, the
second one broken: its requests fail as its own, never answered with the first server's outputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batching.config import OpenAIHTTPExpertConfig, expert_config_adapter
from batching.engines.base import Engine
from batching.engines.openai_http import OpenAIHTTPEngine
from batching.journal.engine import Journal, JournalEngine
from batching.journal.store import INERT_CONFIG_FIELDS, RunStore, model_key
from common.errors import ConfigError
from common.generation import GenRequest, GenResult, SamplingParams
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread


@dataclass(frozen=True)
class _Cfg:
    name: str


class _AnswerEngine(Engine):
    """Answers every request with a fixed text (the working server), or fails each one (the broken one)."""

    kind = "answer"

    def __init__(self, text: str | None) -> None:
        super().__init__(_Cfg("m"))
        self.text = text
        self.seen = 0

    def _load(self) -> None:
        pass

    def _unload(self) -> None:
        pass

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.seen += len(batch)
        if self.text is None:
            return [
                GenResult(request_id=r.request_id, text=None, error="the weights are corrupt") for r in batch
            ]
        return [
            GenResult(
                request_id=r.request_id,
                text=self.text,
                prompt_tokens=3,
                generated_tokens=1,
                finish_reason="stop",
            )
            for r in batch
        ]


@pytest.fixture(scope="module")
def two_servers() -> Iterator[tuple[str, str, _AnswerEngine, _AnswerEngine]]:
    good, broken = _AnswerEngine("B"), _AnswerEngine(None)
    with (
        serve_in_thread(create_openai_app({"m": good}, batch_window_s=0.0)) as (good_url, _),
        serve_in_thread(create_openai_app({"m": broken}, batch_window_s=0.0)) as (broken_url, _),
    ):
        yield good_url, broken_url, good, broken


def _http(name: str, base_url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "engine": "openai_http", "model": "m", "base_url": base_url, "max_retries": 0,
            "timeout_s": 10.0, **extra}  # fmt: skip


def test_two_endpoints_of_one_model_id_never_share_answers(
    two_servers: tuple[str, str, _AnswerEngine, _AnswerEngine], tmp_path: Path
) -> None:
    good_url, broken_url, good, broken = two_servers
    store = RunStore(tmp_path / "runs.sqlite")
    journal = Journal(store=store, run_id="run-1", stage="experts")
    a = OpenAIHTTPEngine(OpenAIHTTPExpertConfig.model_validate(_http("a", good_url)))
    b = OpenAIHTTPEngine(OpenAIHTTPExpertConfig.model_validate(_http("b", broken_url)))
    requests = [GenRequest(request_id=f"r{i}", messages=(("user", f"question {i}?"),),
                           sampling=SamplingParams(seed=0))
                for i in range(3)]  # fmt: skip
    first = JournalEngine(a, journal).generate(requests)
    second = JournalEngine(b, journal).generate(requests)
    a.close(), b.close()
    assert [r.text for r in first] == ["B"] * 3
    assert all(r.text is None and r.error is not None for r in second)  # its own failure, not a's answers
    assert broken.seen == 3 and good.seen == 3
    rows = store.generations("run-1")
    assert sorted((g["expert"], g["error"] is None) for g in rows) == [("a", True)] * 3 + [("b", False)] * 3


def test_a_pool_of_one_model_twice_is_refused_and_two_endpoints_are_two_experts(
    two_servers: tuple[str, str, _AnswerEngine, _AnswerEngine],
) -> None:
    good_url, broken_url, *_ = two_servers
    base = {"name": "p", "method": {"policy": "random_k", "k": 2, "aggregation": "majority"}}
    pool = PoolConfig.model_validate({**base, "experts": [_http("a", good_url), _http("b", broken_url)]})
    assert len(pool.experts) == 2
    same = [_http("a", good_url), _http("b", good_url, max_concurrency=3, cost=2.0)]  # inert differences
    with pytest.raises(ValueError, match=r"experts 'a' and 'b' are one model.*count one answer twice"):
        PoolConfig.model_validate({**base, "experts": same})


def test_a_pool_file_of_one_model_twice_is_a_config_error(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(
        "name: p\nmethod: {policy: random_k, k: 2, aggregation: majority}\nexperts:\n"
        "  - {name: a, engine: transformers, model: org/m, dtype: float32}\n"
        "  - {name: b, engine: transformers, model: org/m, dtype: float32, batch_size: 4}\n"
    )
    with pytest.raises(ConfigError, match="are one model"):
        load_pool_config(pool)


# one changed value per field that can change an output, per engine
_CHANGES: dict[str, dict[str, Any]] = {
    "openai_http": {"model": "other", "base_url": "http://127.0.0.1:9/v1", "chat_template": "{{x}}",
                    "use_chat": False},
    "transformers": {"model": "org/other", "chat_template": "{{x}}", "dtype": "bfloat16", "device": "cuda",
                     "trust_remote_code": True},
    "vllm": {"model": "org/other", "chat_template": "{{x}}", "dtype": "half", "max_model_len": 512,
             "seed": 3, "enforce_eager": True, "tensor_parallel_size": 2, "trust_remote_code": True,
             "load_format": "dummy"},
    "replay": {"model": "other", "recording": "rec2", "recordings_dir": "/data/other", "chat_template": "t"},
}  # fmt: skip
_BASE: dict[str, dict[str, Any]] = {
    "openai_http": {"base_url": "http://127.0.0.1:8000/v1"},
    "transformers": {},
    "vllm": {},
    "replay": {},
}


@pytest.mark.parametrize("engine", sorted(_CHANGES))
def test_every_output_setting_changes_the_key_and_no_inert_one_does(engine: str) -> None:
    base = {"name": "x", "engine": engine, "model": "org/m", **_BASE[engine]}
    key = model_key(expert_config_adapter.validate_python(base))
    fields = set(type(expert_config_adapter.validate_python(base)).model_fields)
    # every field is either inert or has a change here: a new field must be classified by its author
    assert fields - INERT_CONFIG_FIELDS <= {*_CHANGES[engine], "engine"}, fields - INERT_CONFIG_FIELDS
    for field, value in _CHANGES[engine].items():
        changed = model_key(expert_config_adapter.validate_python({**base, field: value}))
        assert changed != key, field
    renamed = expert_config_adapter.validate_python({**base, "name": "y", "family": "f", "cost": 3.0})
    assert model_key(renamed) == key


def test_a_token_in_base_url_is_not_part_of_the_model() -> None:
    def key(url: str) -> str:
        return model_key(OpenAIHTTPExpertConfig(name="x", model="m", base_url=url))

    assert key("http://h/v1?token=one") == key("http://h/v1?token=two")
    assert key("http://u:one@h/v1") == key("http://u:two@h/v1")
    assert key("http://h/v1?token=one") != key("http://other/v1?token=one")
    assert "one" not in key("http://u:one@h/v1?api_key=one")


def test_a_live_run_counts_the_broken_endpoint_as_a_failure_not_a_second_vote(
    two_servers: tuple[str, str, _AnswerEngine, _AnswerEngine], tmp_path: Path
) -> None:
    from common.records import Instance
    from orchestrator.runs.runner import RunOptions, run_pool

    good_url, broken_url, *_ = two_servers
    pool = PoolConfig.model_validate({
        "name": "p", "experts": [_http("a", good_url), _http("b", broken_url)],
        "annotation": {"annotator": "a", "n_samples": 1, "min_count": 1},
        "method": {"policy": "random_k", "k": 2, "aggregation": "majority"},
    })  # fmt: skip
    questions = [Instance(id=f"q{i}", question=f"Pick one ({i}).", options=["x", "y"]) for i in range(3)]
    store = RunStore(tmp_path / "runs.sqlite")
    _, finals = run_pool(pool, questions, options=RunOptions(store=store, run_id="r"))
    for final in finals:
        answers = {a.expert: a for a in final.expert_answers}
        assert answers["a"].answer == "B" and answers["b"].answer is None
        assert answers["b"].error is not None or answers["b"].missing
        assert final.answer == "B"
    experts = {(g["expert"], g["error"] is None) for g in store.generations("r") if g["stage"] == "experts"}
    assert experts == {("a", True), ("b", False)}
