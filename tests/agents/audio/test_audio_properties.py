"""Property tests (hypothesis, bounded) over what users hand the audio pipeline: any brief text and any
JSON timeline either plans within the limits or fails with a clear error, and a job's files stay inside
its ``--out`` folder with exit code 0, 2 or 3 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from audio_helpers import light_config, need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agents.audio.limits import AudioLimitsConfig, check_renderable, clean_timeline
from agents.audio.planner import plan_brief
from agents.audio.review import review_plan
from agents.audio.source import read_source
from agents.audio.timeline import EVENT_KINDS
from common.errors import DataError
from orchestrator.cli import app

LIMITS = AudioLimitsConfig()

line_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=60
)  # any characters: control ones, brackets, markup, emoji codes
brief_lines = st.one_of(
    line_text,
    st.builds(
        lambda n, h, t: f"{n}{h}: {t}",
        st.sampled_from(["ANNA", "ZOË", "Note", "Later that night", "x"]),
        st.sampled_from(["", " (child)", " (female)", " (?)"]),
        line_text,
    ),  # fmt: skip
    st.builds(lambda t: f"[sfx] {t}", line_text),
    st.builds(
        lambda k, v: f"{k}: {v}",
        st.sampled_from(["duration", "music", "title", "mood", "ambience"]),
        line_text,
    ),  # fmt: skip
    st.builds(
        lambda s, t: f"@{s} {t}", st.floats(-10, 1e6, allow_nan=False).map(lambda f: f"{f:g}"), line_text
    ),
)
briefs = st.lists(brief_lines, max_size=12).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(briefs)
def test_any_brief_plans_within_the_limits_or_fails_clearly(brief: str) -> None:
    try:
        plan = review_plan(clean_timeline(plan_brief(brief)))
        check_renderable(plan, LIMITS)
    except DataError as exc:
        assert str(exc)  # a message for the user, never another exception type
        return
    assert plan.events and all(e.kind in EVENT_KINDS for e in plan.events)
    for e in plan.events:
        assert e.start_s >= 0 and e.end_s <= plan.duration_s + 1e-6
        assert "\x00" not in e.text and "\x00" not in e.description
    speech = sorted((e for e in plan.events if e.kind == "speech"), key=lambda e: e.start_s)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(speech, speech[1:], strict=False))


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12))
raw_events = st.fixed_dictionaries(
    {"id": st.text(min_size=0, max_size=8), "kind": st.sampled_from([*EVENT_KINDS, "fx", "hologram", ""]),
     "start_s": numbers, "duration_s": numbers},
    optional={"text": line_text, "description": line_text, "voice": st.sampled_from(["male", "child", "x"]),
              "target_lufs": numbers},
)  # fmt: skip
timelines = st.fixed_dictionaries({"duration_s": numbers, "events": st.lists(raw_events, max_size=6)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=timelines)
def test_any_json_timeline_reads_within_the_limits_or_fails_clearly(data: dict, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("t") / "t.json"
    path.write_text(json.dumps(data))
    try:
        _, _, timeline = read_source(str(path), None, LIMITS)
        assert timeline is not None
        plan = review_plan(clean_timeline(timeline))
        check_renderable(plan, LIMITS)
    except DataError as exc:
        assert str(exc)
        return
    assert all(abs(e.start_s) <= LIMITS.max_duration_s for e in plan.events)
    assert plan.duration_s <= LIMITS.max_duration_s + 10


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(brief=st.lists(brief_lines, min_size=1, max_size=4).map(lambda ls: "music: none\n" + "\n".join(ls)))
def test_a_job_exits_0_2_or_3_and_writes_only_under_out(brief: str, tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    cfg = tmp_path / "audio.yaml"
    cfg.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    before = _files(tmp_path)
    out, store = job / "out", job / "runs.sqlite"
    args = ["audio", brief, "--out", str(out), "--config", str(cfg), "--store", str(store), "--no-progress"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code in (0, 2, 3), res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    new = _files(tmp_path) - before
    assert all(p.is_relative_to(out) or p.name.startswith(store.name) for p in new), new
