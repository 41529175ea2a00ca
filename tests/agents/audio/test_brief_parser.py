"""The rule-based planner reads what people write: one brief line in, the events it must give (or a note
saying why it gave none; a line is never silently dropped)."""

from __future__ import annotations

import pytest

from agents.audio.planner import parse_seconds, plan_brief

NOT_PLACED = "not placed"

LINES: list[tuple[str, list[tuple[str, str, str | None]] | str]] = [
    # speakers: (kind, speaker, voice)
    ("NARRATOR: The storm had been building.", [("speech", "Narrator", "male")]),
    ("ANNA (female): Who is out there?", [("speech", "Anna", "female")]),
    ("TIMMY (child): Look, a dog!", [("speech", "Timmy", "child")]),
    ("ZOË (female): Où est le chat?", [("speech", "Zoë", "female")]),
    ("BOB (male): Evening.", [("speech", "Bob", "male")]),
    ("LILY (girl): Can we go?", [("speech", "Lily", "child")]),
    ("OLD MAN (old man): Sit down, boy.", [("speech", "Old Man", "male")]),
    ("GRANDMA (woman): Tea is ready.", [("speech", "Grandma", "female")]),
    ("Anna: Hello again.", [("speech", "Anna", "female")]),
    ("Dr. Smith: Take a seat.", [("speech", "Dr. Smith", "male")]),
    ("CAPTAIN REYES (f): All hands!", [("speech", "Captain Reyes", "female")]),
    ("NARRATOR (V.O.): Years later.", [("speech", "Narrator", "male")]),
    ("ANNA: (whispering) Who is there?", [("speech", "Anna", "female")]),
    ("JOSÉ: ¡Hola!", [("speech", "José", "male")]),
    ("MIKE (m): Roger that.", [("speech", "Mike", "male")]),
    ("ROBOT-7: Beep. Affirmative.", [("speech", "Robot-7", "male")]),
    ('"Is anyone there?" she asked.', [("speech", "Narrator", "male")]),
    ("“Run!” he shouted.", [("speech", "Narrator", "male")]),
    # effects: (kind, description, None)
    ("[sfx] knock at the door", [("sfx", "knock at the door", None)]),
    ("[SFX: glass shatters]", [("sfx", "glass shatters", None)]),
    ("SFX: a dog barks twice", [("sfx", "a dog barks twice", None)]),
    ("Sound: applause from the audience", [("sfx", "applause from the audience", None)]),
    ("(door slams)", [("sfx", "door slams", None)]),
    ("*phone rings*", [("sfx", "phone rings", None)]),
    ("[a gunshot echoes]", [("sfx", "a gunshot echoes", None)]),
    ("[fx] laser blast", [("sfx", "laser blast", None)]),
    ("@12.5 [sfx] bell", [("sfx", "bell", None)]),
    ("[0:04] [sfx] a clock ticks", [("sfx", "a clock ticks", None)]),
    ("A baby cries in the next room.", [("sfx", "A baby cries in the next room.", None)]),
    ("The car drives past.", [("sfx", "The car drives past.", None)]),
    ("Later that night: an owl hoots.", [("sfx", "Later that night: an owl hoots.", None)]),
    ("[sfx] a whirring alien contraption", [("sfx", "a whirring alien contraption", None)]),
    # beds: (kind, description, None)
    ("ambience: rain on the roof", [("ambience", "rain on the roof", None)]),
    ("Background: a busy cafe", [("ambience", "a busy cafe", None)]),
    ("It is raining.", [("ambience", "It is raining.", None)]),
    ("The fire crackles.", [("ambience", "The fire crackles.", None)]),
    # lines that give nothing, each reported
    ("Note: this scene is for children.", NOT_PLACED),
    ("Later that night: nothing happens.", NOT_PLACED),
    ("The train left the station.", NOT_PLACED),  # not "rain"
    ("They ate outdoors on the terrace.", NOT_PLACED),  # not "door"
    ("A belly laugh.", NOT_PLACED),  # not "bell"
    ("Mushroom soup for dinner.", NOT_PLACED),  # not "room tone"
    ("(pause)", NOT_PLACED),
    ("Scene: a kitchen.", NOT_PLACED),
    ("ANNA (female): ...", NOT_PLACED),
]


def _events(line: str) -> tuple[list[tuple[str, str, str | None]], tuple[str, ...]]:
    plan = plan_brief("music: none\n" + line)
    out = [
        (e.kind, e.speaker or "", e.voice) if e.kind == "speech" else (e.kind, e.description, None)
        for e in plan.events
    ]
    return out, plan.notes


@pytest.mark.parametrize(("line", "expected"), LINES, ids=[line[:30] for line, _ in LINES])
def test_each_brief_line_gives_its_events(
    line: str, expected: list[tuple[str, str, str | None]] | str
) -> None:
    events, notes = _events(line)
    if expected == NOT_PLACED:
        assert events == [] and len(notes) == 1 and "line 2 not placed" in notes[0], (events, notes)
    else:
        assert events == expected and not any("not placed" in n for n in notes), (events, notes)


def test_the_table_covers_enough_lines() -> None:
    assert len(LINES) >= 40


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1:30", 90.0), ("90s", 90.0), ("90", 90.0), ("1m30s", 90.0), ("2 min", 120.0), ("1.5 minutes", 90.0),
     ("0:01:05", 65.0), ("45 seconds", 45.0)],
)  # fmt: skip
def test_durations_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds
    assert plan_brief(f"duration: {text}\nNARRATOR: Hi.").duration_s == seconds


def test_music_lines_read_key_tempo_and_instrument() -> None:
    def music(line: str):  # type: ignore[no-untyped-def]
        plan = plan_brief(f"music: {line}\nNARRATOR: Hi.")
        return next(e for e in plan.events if e.kind == "music").music, plan.notes

    cafe, _ = music("soft jazz in a cafe")
    assert cafe.key != "A"  # "in a cafe" is not the key of A
    strings, _ = music("slow strings in D minor, 70 bpm")
    assert (strings.key, strings.mode, strings.tempo_bpm, strings.program) == ("D", "minor", 70.0, 48)
    sharp, _ = music("piano in f# major")
    assert (sharp.key, sharp.mode) == ("F#", "major")
    fast, notes = music("drums at 240 bpm")
    assert fast.tempo_bpm == 220.0 and any("240 bpm" in n for n in notes)  # clamped with a note, no crash


def test_speakers_get_distinct_voices() -> None:
    brief = "A: One.\nB: Two.\nC: Three.\nD: Four.\nTIMMY (child): Five.\nSUE (girl): Six."
    speech = [e for e in plan_brief(brief).events if e.kind == "speech"]
    assert len({e.voice for e in speech}) == 6
    assert [e.voice for e in speech[-2:]] == ["child", "child2"]
