"""`symoe audio --pool POOL --planner EXPERT [--critic EXPERT]` from the CLI, on a real local model and
through an OpenAI-compatible server on 127.0.0.1; the planner's prompt fits a 2,048-token context."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from audio_helpers import EXAMPLE_BRIEF, light_config, need
from typer.testing import CliRunner

from agents.audio.roles import (
    PLANNER_CONTEXT_TOKENS,
    PLANNER_MAX_TOKENS,
    PLANNER_PROMPT,
    PLANNER_SCHEMA_HINT,
    PlanDraft,
)
from batching.config import TransformersExpertConfig
from batching.engines.base import Engine
from batching.engines.registry import build_engine
from common.generation import GenRequest, GenResult
from orchestrator.cli import app
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread

PLAN = {
    "title": "Knock",
    "duration_s": 6,
    "events": [
        {"id": "e1", "kind": "ambience", "start_s": 0, "duration_s": 6, "description": "rain on a window"},
        {"id": "e2", "kind": "speech", "start_s": 1, "duration_s": 1.5, "text": "Who is there?",
         "speaker": "Anna", "voice": "female"},
        {"id": "e3", "kind": "sfx", "start_s": 3.5, "duration_s": 1, "description": "a knock at the door"},
    ],
}  # fmt: skip


def _system_prompt() -> str:
    return PLANNER_PROMPT + "\nReply with one JSON object, and nothing else:\n" + PLANNER_SCHEMA_HINT


def test_planner_prompt_fits_a_2048_token_context(tiny_pool: dict[str, Path], minilm: object) -> None:
    from transformers import AutoTokenizer

    brief = EXAMPLE_BRIEF.read_text()
    # the tiny model's tokenizer is byte-level with few merges: the worst case for a prompt's length
    tiny = AutoTokenizer.from_pretrained(str(tiny_pool["tiny-llama-xs"]))
    messages = [{"role": "system", "content": _system_prompt()}, {"role": "user", "content": brief}]
    prompt = tiny.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert len(prompt["input_ids"]) <= PLANNER_CONTEXT_TOKENS  # prompt and brief, on the worst tokenizer
    wordpiece = minilm.tokenizer  # type: ignore[attr-defined]  # a common subword tokenizer
    n = len(wordpiece(_system_prompt() + "\n" + brief)["input_ids"])
    assert n + PLANNER_MAX_TOKENS <= PLANNER_CONTEXT_TOKENS  # prompt, brief and the whole answer
    full_schema = len(tiny(json.dumps(PlanDraft.model_json_schema()))["input_ids"])
    assert len(tiny(_system_prompt())["input_ids"]) < full_schema  # the compact hint, not the schema


class ScriptedPlanEngine(Engine):
    """A stand-in model behind the real HTTP server: answers every planner request with one plan."""

    kind = "scripted"

    def _load(self) -> None:
        return None

    def _unload(self) -> None:
        return None

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.seen = list(batch)
        return [
            GenResult(request_id=r.request_id, text="Here is the plan:\n" + json.dumps(PLAN)) for r in batch
        ]


def _pool(tmp_path: Path, base_url: str) -> Path:
    expert = {"name": "srv", "engine": "openai_http", "model": "planner", "base_url": base_url}
    expert["max_retries"] = 0
    pool = {"version": 2, "name": "p", "experts": [expert], "method": {"policy": "random_k", "k": 1}}
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(pool))
    return path


def _cli(tmp_path: Path, pool: Path, *extra: str):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "audio.yaml"
    cfg.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))
    brief = "music: none\nNARRATOR: A scene with rain.\n[sfx] knock"
    args = ["audio", brief, "--out", str(tmp_path / "out"), "--config", str(cfg), "--store",
            str(tmp_path / "r.sqlite"), "--pool", str(pool), "--no-progress", *extra]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert "Traceback" not in res.output, res.output
    report = tmp_path / "out" / "report.json"
    return res, json.loads(report.read_text()) if res.exit_code in (0, 3) else None


def test_pool_planner_through_an_openai_compatible_server(tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    engine = ScriptedPlanEngine(None)
    with serve_in_thread(create_openai_app({"planner": engine})) as (base_url, _):
        res, report = _cli(tmp_path, _pool(tmp_path, base_url), "--planner", "srv")
    assert res.exit_code == 0, res.output
    assert report["planner"] == "llm:srv"  # the model's plan, not the rule-based one
    assert {e["id"] for e in report["events"]} == {"e1", "e2", "e3"}
    [request] = engine.seen
    assert request.json_schema is not None and "Who is there?" not in request.messages[1][1]


@pytest.mark.slow
def test_pool_planner_and_critic_on_a_real_tiny_model(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    """The random-weight model writes no valid plan: repaired and retried, then the rules plan (noted)."""
    need("flite", "espeak-ng")
    cfg = TransformersExpertConfig(name="tiny", model=str(tiny_pool["tiny-llama-xs"]))
    with build_engine(cfg) as engine, serve_in_thread(create_openai_app({"planner": engine})) as (url, _):
        res, report = _cli(tmp_path, _pool(tmp_path, url), "--planner", "srv", "--critic", "srv")
    assert res.exit_code == 0, res.output
    assert report["planner"] == "rule_based (fallback from srv)"
    assert "no valid plan" in report["plan_notes"][0]
    assert report["critic"] == "srv"
