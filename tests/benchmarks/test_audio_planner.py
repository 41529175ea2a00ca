"""benchmarks/audio_planner.py: per brief, the lines a pool model read and the lines left to the rules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from agents.audio.llm_planner import LINE_EXAMPLES
from batching.engines.base import Engine
from benchmarks.audio_planner import main
from common.generation import GenRequest, GenResult
from orchestrator.service.openai_stub import create_openai_app, serve_in_thread


class EffectsOnly(Engine):
    """Reads every line as the effect it names: right for `[sfx]` lines, wrong for spoken ones."""

    kind = "effects-only"

    def _load(self) -> None:
        return None

    def _unload(self) -> None:
        return None

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        out = []
        for r in batch:
            line = [t for role, t in r.messages if role == "user"][len(LINE_EXAMPLES)]
            reading = {"events": [{"kind": "sfx", "description": line.removeprefix("[sfx]").strip()}]}
            out.append(GenResult(request_id=r.request_id, text=json.dumps(reading)))
        return out


def test_the_table_counts_lines_read_and_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    brief = tmp_path / "b.txt"
    brief.write_text("title: t\n[sfx] a door slams\n[sfx] a dog barks\nANNA: Who is there?\n")
    with serve_in_thread(create_openai_app({"planner": EffectsOnly(None)})) as (url, _):
        expert = {
            "name": "srv",
            "engine": "openai_http",
            "model": "planner",
            "base_url": url,
            "max_retries": 0,
        }
        pool = tmp_path / "pool.yaml"
        method = {"policy": "random_k", "k": 1, "aggregation": "majority"}
        pool.write_text(yaml.safe_dump({"version": 2, "name": "p", "experts": [expert], "method": method}))
        assert main([str(brief), "--pool", str(pool), "--planner", "srv"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "b.txt" in line)
    assert [c.strip() for c in row.split("│")[1:6]] == ["b.txt", "3", "2", "0", "1"]
