"""`symoe audio` in batch mode over a JSONL of briefs (generators load once for all), and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from audio_helpers import light_config, need
from typer.testing import CliRunner

from orchestrator.cli import app


def test_batch_of_briefs_loads_each_generator_once(tmp_path: Path) -> None:
    need("flite", "espeak-ng")
    cfg = tmp_path / "audio.yaml"
    cfg.write_text(yaml.safe_dump(light_config().model_dump(mode="json")))
    (tmp_path / "two.txt").write_text("music: none\nambience: wind\nANNA (female): From a file.\n[sfx] knock")
    lines = [
        {"id": "one", "brief": "music: none\nNARRATOR: The first scene.\n[sfx] a bell"},
        {"id": "two", "source": "two.txt"},
    ]
    (tmp_path / "briefs.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    res = CliRunner().invoke(
        app,
        [
            "audio",
            str(tmp_path / "briefs.jsonl"),
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(cfg),
            "--store",
            str(tmp_path / "r.sqlite"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.count("run: ") == 2
    one = json.loads((tmp_path / "out" / "one" / "report.json").read_text())
    two = json.loads((tmp_path / "out" / "two" / "report.json").read_text())
    assert one["passed"] and two["passed"]
    assert two["generators"]["flite"]["loads"] == 1  # the same team: counters are cumulative, loads stay 1
    assert two["generators"]["procedural"]["requests"] == 3  # a bell, then wind and a knock


def test_cli_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n')
    res = CliRunner().invoke(
        app, ["audio", str(tmp_path / "bad.jsonl"), "--store", str(tmp_path / "r.sqlite")]
    )
    assert res.exit_code == 2 and "bad.jsonl:1" in _flat(res.output) and "brief" in res.output
    res = CliRunner().invoke(app, ["audio", "--resume", "nope", "--store", str(tmp_path / "r.sqlite")])
    assert res.exit_code == 2 and "no run 'nope'" in _flat(res.output)
    res = CliRunner().invoke(app, ["audio", "scene.txt", "--store", str(tmp_path / "r.sqlite")])
    assert res.exit_code == 2 and "brief not found" in _flat(res.output)


def _flat(text: str) -> str:
    """The console wraps long lines; compare with single spaces."""
    return " ".join(text.split())
