"""`symoe audio --pool POOL --planner EXPERT [--critic EXPERT]`: a model reads the brief line by line, on a
real local model (SmolLM2-135M-Instruct, shipped by a PyPI package) and through an OpenAI-compatible server
on 127.0.0.1; every planner request fits a 2,048-token context; readings are checked against their line."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from audio_helpers import EXAMPLE_BRIEF, light_config, need
from typer.testing import CliRunner

from agents.audio.llm_planner import (
    LINE_EXAMPLES,
    LINE_MAX_TOKENS,
    PLANNER_CONTEXT_TOKENS,
    LineReading,
    canonical_lines,
    llm_plan,
    reading_problem,
)
from batching.config import TransformersExpertConfig
from batching.engines.base import Engine
from batching.engines.registry import build_engine
from common.generation import GenRequest, GenResult
from orchestrator.cli import app
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread
from zoo.packaged import ensure_packaged_model, packaged_model_available

SMOLLM2 = "smollm2-135m-instruct"


def _reading(*events: dict[str, str]) -> LineReading:
    return LineReading.model_validate({"events": list(events)})


@pytest.mark.parametrize(
    ("line", "events", "problem"),
    [
        (
            "ANNA (female): Who is out there? It is late.",
            [
                {
                    "kind": "speech",
                    "speaker": "Anna",
                    "voice": "female",
                    "text": "Who is out there? It is late.",
                }
            ],
            None,
        ),
        (
            "ANNA (female): Who is out there? It is late.",  # the words cut short
            [{"kind": "speech", "speaker": "Anna", "text": "Who is out there?"}],
            "leave out words",
        ),
        (
            "ANNA (female): Who is out there?",  # a speaker the line does not name
            [{"kind": "speech", "speaker": "Gemma", "text": "Who is out there?"}],
            "not named",
        ),
        (
            "NARRATOR: The puppy found a home.",  # words repeated past the line's length
            [
                {
                    "kind": "speech",
                    "speaker": "Narrator",
                    "text": "The puppy found a home. The puppy found a home.",
                }
            ],
            "line's own words",
        ),
        (
            "*the phone rings*",  # a stage direction read as a line spoken by "The Phone"
            [{"kind": "speech", "speaker": "The Phone", "text": "the phone rings"}],
            "stage direction",
        ),
        ("*the phone rings*", [{"kind": "sfx", "description": "a phone rings"}], None),
        (
            "ANNA: (knocks twice) Open up!",  # a stage direction inside a spoken line
            [
                {"kind": "speech", "speaker": "Anna", "text": "Open up!"},
                {"kind": "sfx", "description": "knocks twice on a door"},
            ],
            None,
        ),
        (
            "NARRATOR: The storm grew.",  # a spoken line read as an effect
            [{"kind": "sfx", "description": "the storm grew"}],
            "written as speech",
        ),
        (
            "ambience: rain on the roof",
            [{"kind": "ambience", "description": "steady rain on a tin roof"}],
            None,
        ),
        (
            "[sfx] knock at the door",
            [{"kind": "sfx", "description": "a cat chases a ball"}],
            "shares no word",
        ),
        (
            "The kettle whistles while a dog barks.",  # prose: the reading is the model's own
            [
                {"kind": "sfx", "description": "a kettle whistles"},
                {"kind": "sfx", "description": "a dog barks"},
            ],
            None,
        ),
        ("The kettle whistles while a dog barks.", [{"kind": "none"}], "asks for sounds"),
        ("Note: keep it short.", [{"kind": "none"}], None),
    ],
)
def test_a_reading_is_checked_against_its_line(line: str, events: list, problem: str | None) -> None:
    found = reading_problem(line, _reading(*events))
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_readings_become_brief_lines_the_layout_reads() -> None:
    reading = _reading(
        {"kind": "speech", "speaker": "Old Tom", "voice": "male", "text": "Hush (softly) now."},
        {"kind": "sfx", "description": "a door # slams"},
        {"kind": "ambience", "description": "wind"},
    )
    assert canonical_lines(reading, "@4 ") == [
        "@4 OLD TOM (male): Hush now.",
        "[sfx] a door slams",
        "ambience: wind",
    ]


class ScriptedReader(Engine):
    """A stand-in model: answers each line with ``answer(line, attempt)``, and keeps every request."""

    kind = "scripted"

    def __init__(self, answer: Callable[[str, int], dict]) -> None:
        super().__init__(None)
        self.answer = answer
        self.seen: list[GenRequest] = []

    def _load(self) -> None:
        return None

    def _unload(self) -> None:
        return None

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        self.seen.extend(batch)
        out = []
        for r in batch:  # after the examples: the line, then one user turn per repair round
            asked = [text for role, text in r.messages if role == "user"][len(LINE_EXAMPLES) :]
            answer = json.dumps(self.answer(asked[0], len(asked)))
            out.append(GenResult(request_id=r.request_id, text="Sure: " + answer))
        return out


def _answer(line: str, attempt: int) -> dict:
    if line.startswith("NARRATOR"):
        return {
            "events": [
                {"kind": "speech", "speaker": "Narrator", "voice": "female", "text": "A scene with rain."}
            ]
        }
    if attempt == 1:  # a wrong first reading of the effect, repaired after the check's message
        return {"events": [{"kind": "sfx", "description": "a cat purrs"}]}
    return {"events": [{"kind": "sfx", "description": "a loud knock at the door"}]}


def test_every_planner_request_fits_a_2048_token_context(tiny_pool: dict[str, Path], minilm: object) -> None:
    """The longest line of the example brief, with two repair rounds, on the worst tokenizer here."""
    from transformers import AutoTokenizer

    engine = ScriptedReader(lambda line, attempt: {"events": [{"kind": "sfx", "description": "a cat purrs"}]})
    plan = llm_plan(engine, EXAMPLE_BRIEF.read_text(), expert="scripted")
    assert plan.planner == "rule_based (fallback from scripted)"  # every reading was wrong: the rules plan
    longest = max(engine.seen, key=lambda r: sum(len(t) for _, t in r.messages))
    assert sum(role == "assistant" for role, _ in longest.messages) == len(LINE_EXAMPLES) + 2  # two repairs
    # the tiny model's tokenizer is byte-level with few merges: the worst case for a prompt's length
    tiny = AutoTokenizer.from_pretrained(str(tiny_pool["tiny-llama-xs"]))
    messages = [{"role": role, "content": text} for role, text in longest.messages]
    ids = tiny.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    assert len(ids["input_ids"]) + LINE_MAX_TOKENS <= PLANNER_CONTEXT_TOKENS
    wordpiece = minilm.tokenizer  # type: ignore[attr-defined]  # a common subword tokenizer
    first = "\n".join(t for _, t in engine.seen[0].messages)
    assert len(wordpiece(first)["input_ids"]) + LINE_MAX_TOKENS <= PLANNER_CONTEXT_TOKENS // 2


def _pool(tmp_path: Path, expert: dict) -> Path:
    pool = {"version": 2, "name": "p", "experts": [expert], "method": {"policy": "random_k", "k": 1}}
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(pool))
    return path


def _server_pool(tmp_path: Path, base_url: str) -> Path:
    return _pool(
        tmp_path,
        {"name": "srv", "engine": "openai_http", "model": "planner", "base_url": base_url, "max_retries": 0},
    )


def _cli(
    tmp_path: Path,
    pool: Path,
    *extra: str,
    brief: str = "music: none\nNARRATOR: A scene with rain.\n[sfx] knock",
):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "audio.yaml"
    cfg.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))
    args = ["audio", brief, "--out", str(tmp_path / "out"), "--config", str(cfg), "--store",
            str(tmp_path / "r.sqlite"), "--pool", str(pool), "--no-progress", *extra]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert "Traceback" not in res.output, res.output
    report = tmp_path / "out" / "report.json"
    return res, json.loads(report.read_text()) if res.exit_code in (0, 3) else None


def test_pool_planner_through_an_openai_compatible_server(tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    engine = ScriptedReader(_answer)
    with serve_in_thread(create_openai_app({"planner": engine})) as (base_url, _):
        res, report = _cli(tmp_path, _server_pool(tmp_path, base_url), "--planner", "srv")
    assert res.exit_code == 0, res.output
    assert report["planner"] == "llm:srv"  # the model's readings, not the rule-based ones
    assert "read 2 of 2 lines (1 after a repair)" in report["plan_notes"][0]
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    speech = next(e for e in timeline["events"] if e["kind"] == "speech")
    assert speech["speaker"] == "Narrator" and speech["voice"].startswith("female")  # the model's cast
    [sfx] = [e for e in timeline["events"] if e["kind"] == "sfx"]
    assert sfx["description"] == "a loud knock at the door"  # the repaired reading, not the line's "knock"
    assert all(r.json_schema is not None for r in engine.seen)  # schema-constrained where the server can
    assert all("music: none" not in t for r in engine.seen for _, t in r.messages)  # settings stay out


def _need_smollm2() -> None:
    if not packaged_model_available(SMOLLM2):
        pytest.skip(f"the packaged model {SMOLLM2} is not fetched: run `bash scripts/setup.sh`")


@pytest.mark.slow
@pytest.mark.parametrize("through", ["engine", "http"])
def test_pool_planner_on_a_real_local_model(through: str, tmp_path: Path) -> None:
    """SmolLM2-135M-Instruct reads the lines, as a pool's transformers expert or behind an OpenAI-compatible
    server on 127.0.0.1; what it misreads after repairs keeps its text (noted)."""
    need("flite", "espeak-ng")
    _need_smollm2()
    brief = "music: none\n[sfx] thunder rolls over the valley\n[sfx] a knock at the door\nambience: rain"
    sampling = {"temperature": 0.0, "max_tokens": 160}
    if through == "engine":
        expert = {
            "name": "smollm2",
            "engine": "transformers",
            "model": f"packaged:{SMOLLM2}",
            "sampling": sampling,
        }
        res, report = _cli(tmp_path, _pool(tmp_path, expert), "--planner", "smollm2", brief=brief)
        name = "smollm2"
    else:
        cfg = TransformersExpertConfig(
            name="smollm2", model=str(ensure_packaged_model(SMOLLM2)), sampling=sampling
        )
        with build_engine(cfg) as engine, serve_in_thread(create_openai_app({"planner": engine})) as (url, _):
            res, report = _cli(tmp_path, _server_pool(tmp_path, url), "--planner", "srv", brief=brief)
        name = "srv"
    assert res.exit_code == 0, res.output
    assert report["planner"] == f"llm:{name}", report["plan_notes"]
    note = report["plan_notes"][0]
    read = int(note.split("read ")[1].split(" of ")[0])
    assert read >= 1 and "of 3 lines" in note
    kinds = sorted(e["kind"] for e in report["events"])
    assert kinds == ["ambience", "sfx", "sfx"]  # every line placed, by the model or by the rules


@pytest.mark.slow
def test_pool_planner_and_critic_on_a_random_weight_model(tiny_pool: dict[str, Path], tmp_path: Path) -> None:
    """The random-weight model reads no line: repaired and retried, then the rules plan (noted)."""
    need("flite", "espeak-ng")
    cfg = TransformersExpertConfig(name="tiny", model=str(tiny_pool["tiny-llama-xs"]))
    with build_engine(cfg) as engine, serve_in_thread(create_openai_app({"planner": engine})) as (url, _):
        res, report = _cli(tmp_path, _server_pool(tmp_path, url), "--planner", "srv", "--critic", "srv")
    assert res.exit_code == 0, res.output
    assert report["planner"] == "rule_based (fallback from srv)"
    assert "read 0 of 2 lines" in report["plan_notes"][0]
    assert report["critic"] == "srv"
