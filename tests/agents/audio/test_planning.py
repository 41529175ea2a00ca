"""The rule-based planner and the plan reviewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_helpers import EXAMPLE_BRIEF

from agents.audio import AudioEvent, Timeline, plan_brief, review_plan
from agents.audio.source import read_source
from common.errors import DataError


def test_example_brief_plans_its_scene() -> None:
    plan = review_plan(plan_brief(EXAMPLE_BRIEF.read_text()))
    kinds = [e.kind for e in plan.events]
    speech = [e for e in plan.events if e.kind == "speech"]
    assert 20 <= plan.duration_s <= 30 and plan.notes == ()
    assert len({e.voice for e in speech}) == 2 and {e.speaker for e in speech} == {"Narrator", "Anna"}
    assert kinds.count("music") == 1 and kinds.count("ambience") == 2 and kinds.count("sfx") >= 3
    music = next(e for e in plan.events if e.kind == "music")
    assert music.music is not None and (music.music.key, music.music.mode, music.music.tempo_bpm) == (
        "D",
        "minor",
        70,
    )
    assert all(e.target_lufs is not None and e.layer is not None for e in plan.events)
    starts = [e.start_s for e in speech]
    assert starts == sorted(starts) and all(
        a.end_s <= b.start_s for a, b in zip(speech, speech[1:], strict=False)
    )


def test_prose_brief_quotes_become_speech_and_sound_words_become_effects() -> None:
    plan = plan_brief('A dark night in the forest. Thunder. "Is anyone there?" A door slams.')
    assert [(e.kind, e.text or e.description) for e in plan.events if e.kind != "music"] == [
        ("ambience", "A dark night in the forest."),
        ("sfx", "Thunder."),
        ("speech", "Is anyone there?"),
        ("sfx", "A door slams."),
    ]
    assert next(e for e in plan.events if e.kind == "music").music.mood == "mysterious"  # type: ignore[union-attr]


def _ev(id: str, kind: str, start: float, dur: float, **kw: object) -> AudioEvent:
    return AudioEvent(id=id, kind=kind, start_s=start, duration_s=dur, **kw)  # type: ignore[arg-type]


def test_reviewer_fixes_what_a_bad_plan_gets_wrong() -> None:
    bad = Timeline(
        duration_s=10.0,
        events=(
            _ev("a", "dialogue", -1.0, 2.0, text="Hello there."),
            _ev("b", "speech", 0.5, 0.0, text="Overlapping line here."),
            _ev("c", "hologram", 1.0, 1.0, description="??"),
            _ev("d", "bgm", 0.0, 10.0, description="piano"),
            _ev("e", "music", 4.0, 6.0, description="strings"),
            _ev("f", "sfx", 12.0, 1.0, description="bell"),
            _ev("g", "fx", 3.0, -2.0, description="door"),
        ),
    )
    fixed = review_plan(bad)
    by = {e.id: e for e in fixed.events}
    assert set(by) == {"a", "b", "d", "e", "f", "g"}  # a user's line past the end is kept, never dropped
    assert fixed.duration_s >= by["f"].end_s
    assert by["a"].kind == "speech" and by["a"].start_s == 0.0
    assert by["b"].duration_s > 0 and by["b"].start_s >= by["a"].end_s  # moved after the first line
    assert by["d"].kind == "music" and by["d"].end_s == pytest.approx(4.0)  # one music bed at a time
    assert by["g"].kind == "sfx" and by["g"].duration_s == 1.6  # a door's default length
    text = " ".join(fixed.notes)
    for expected in (
        "unknown kind 'hologram'",
        "moved to 0",
        "overlapped a",
        "two music beds",
        "timeline extended",
    ):
        assert expected in text


def test_sources_json_timeline_brief_text_and_errors(tmp_path: Path) -> None:
    tl = Timeline(duration_s=3.0, events=(_ev("x", "sfx", 0.5, 1.0, description="bell"),))
    (tmp_path / "t.json").write_text(tl.model_dump_json())
    assert read_source(tmp_path / "t.json")[2] == tl
    assert read_source("NARRATOR: hi")[:2] == ("brief", "NARRATOR: hi")
    (tmp_path / "bad.json").write_text('{"duration_s": -1, "events": []}')
    with pytest.raises(DataError, match="not a valid timeline"):
        read_source(tmp_path / "bad.json")
    with pytest.raises(DataError, match="video not found"):
        read_source(tmp_path / "missing.mp4")
