"""Supervisors catch faulty generators: the retry or the next generator fixes it, and the journal says so."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from audio_helpers import light_config

from agents.audio import AudioTeam, generator_registry
from agents.audio.generators.base import AudioTask, GeneratorSpec, RenderedAudio
from agents.audio.generators.sfx import ProceduralConfig, ProceduralGenerator
from batching.journal.store import RunStore


class ClippingConfig(ProceduralConfig):
    generator: Literal["clipping_sfx"] = "clipping_sfx"  # type: ignore[assignment]


class ClippingGenerator(ProceduralGenerator):
    """Renders the right sound 18 dB too hot, hard-clipped: flat tops the supervisor must catch."""

    config_cls = ClippingConfig

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        return [
            RenderedAudio(
                samples=np.clip(r.samples * 8.0, -1.0, 1.0),
                sample_rate=r.sample_rate,
                detail="clipped on purpose",
            )
            for r in super()._generate(batch)
        ]


class ShortConfig(ProceduralConfig):
    generator: Literal["short_sfx"] = "short_sfx"  # type: ignore[assignment]


class ShortGenerator(ProceduralGenerator):
    """Returns half the planned length."""

    config_cls = ShortConfig

    def _generate(self, batch: Sequence[AudioTask]) -> list[RenderedAudio]:
        return [
            RenderedAudio(
                samples=r.samples[: r.samples.size // 2],
                sample_rate=r.sample_rate,
                detail="half length on purpose",
            )
            for r in super()._generate(batch)
        ]


def test_faulty_generators_are_caught_and_replaced(tmp_path: Path) -> None:
    registry = generator_registry.copy()
    registry.register("clipping_sfx", ClippingGenerator)
    registry.register("short_sfx", ShortGenerator)
    base = light_config()
    faulty = (
        GeneratorSpec(name="hot", generator="clipping_sfx", priors={"sfx": 0.95}),
        GeneratorSpec(name="short", generator="short_sfx", priors={"ambience": 0.95}),
    )
    cfg = base.model_copy(update={"generators": (*faulty, *base.generators)})
    team = AudioTeam(cfg, store=tmp_path / "runs.sqlite", registry=registry)
    brief = "title: faulty\nmusic: none\nambience: rain\n[sfx] door creaks\n[sfx] a bell"
    result = team.render(brief, tmp_path / "out")
    team.close()

    events = {e.id: e for e in result.report.events}
    for eid, bad, failed in (
        ("sfx-1", "hot", "raw_clipped_samples"),
        ("sfx-2", "hot", "raw_clipped_samples"),
        ("ambience-1", "short", "duration_vs_plan_s"),
    ):
        e = events[eid]
        assert e.generator == "procedural" and e.attempts == 3, eid
        assert [(d.generator, d.passed) for d in e.decisions] == [
            (bad, False),
            (bad, False),
            ("procedural", True),
        ]
        assert e.decisions[0].failed_checks == (failed,)
        assert [d.instruction.action for d in e.decisions] == ["regenerate", "next_generator", "accept"]
    assert result.report.passed

    # the decisions are in the job's journal, step by step
    steps = {s.step_key: s for s in RunStore(tmp_path / "runs.sqlite").steps(result.run_id)}
    first = steps["generate/sfx-1/1/verdict"].payload
    assert not first["passed"] and first["instruction"]["action"] == "regenerate"
    assert any(
        c["name"] == "raw_clipped_samples" and not c["pass"] and c["value"] > 0 for c in first["checks"]
    )
    assert steps["generate/sfx-1/3/attempt"].payload["expert"] == "procedural"
    assert steps["generate/sfx-1/3/attempt"].payload["instruction"]["action"] == "next_generator"
    assert steps["generate/ambience-1/2/verdict"].payload["instruction"]["action"] == "next_generator"
    # and the profiles learned it: the faulty generators now rank below the procedural one
    learned = json.loads((tmp_path / "out" / "profiles.json").read_text())["generators"]
    assert learned["hot"]["sfx"] == {"passed": 0, "failed": 4}
    assert learned["short"]["ambience"] == {"passed": 0, "failed": 2}
    assert team.recruiter.ranking(_event("sfx"))[0][0] == "procedural"


def _event(kind: str):  # type: ignore[no-untyped-def]
    from agents.audio.timeline import AudioEvent

    return AudioEvent(id="x", kind=kind, start_s=0, duration_s=1, description="door")
