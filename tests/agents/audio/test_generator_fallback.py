"""A generator that raises (here the transformers one, given a model folder that does not exist) fails
its tasks, and recruitment moves each to the next generator; the report keeps the note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audio_helpers import light_config

from agents.audio import AudioTeam
from agents.audio.generators.base import GeneratorSpec
from agents.audio.timeline import AudioEvent, Timeline


@pytest.mark.slow  # imports torch and transformers (tens of seconds on a loaded 2-core machine)
def test_a_raising_generator_falls_back_to_the_next_with_a_note(tmp_path: Path) -> None:
    broken = GeneratorSpec(name="musicgen", generator="transformers_audio", model=str(tmp_path / "missing"),
                           device="cpu", dtype="float32", priors={"sfx": 0.95})  # type: ignore[call-arg]  # fmt: skip
    base = light_config()
    cfg = base.model_copy(update={"generators": (broken, *base.generators)})
    dog = AudioEvent(id="dog", kind="sfx", start_s=0.5, duration_s=1.5, description="a dog barks")
    timeline = Timeline(duration_s=3.0, events=(dog,))
    path = tmp_path / "t.json"
    path.write_text(timeline.model_dump_json())
    team = AudioTeam(cfg, store=tmp_path / "r.sqlite")
    try:
        result = team.render(path, tmp_path / "out")
    finally:
        team.close()
    [event] = result.report.events
    assert event.generator == "procedural" and event.source == "recipe dog"
    first = event.decisions[0]
    assert first.generator == "musicgen" and not first.passed and "generator_error" in first.failed_checks
    assert "musicgen" in first.instruction.reason and first.instruction.action == "next_generator"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["passed"] is True


@pytest.mark.slow  # imports torch and transformers
def test_the_transformers_generator_runs_a_tiny_musicgen_on_cpu(tmp_path: Path) -> None:
    """The GPU config's code path (model and processor from_pretrained, then the pipeline) on a CPU."""
    from tiny_audio_models import build_tiny_musicgen

    from agents.audio.generators import AudioTask, build_generators

    model = build_tiny_musicgen(tmp_path / "tiny-musicgen")
    spec = GeneratorSpec(name="musicgen", generator="transformers_audio", model=str(model), device="cpu",
                         dtype="float32", task="text-to-audio", priors={"music": 0.5})  # type: ignore[call-arg]  # fmt: skip
    [gen] = build_generators([spec])
    event = AudioEvent(id="m", kind="music", start_s=0, duration_s=1.0, description="slow strings in d minor")
    try:
        [out] = gen.generate([AudioTask(event=event, attempt=1, instruction=None, seed=0, work_dir=tmp_path)])
    finally:
        gen.unload()
    assert out.error is None and out.sample_rate == 8000 and out.samples.size > 0
