"""The replay engine serves recorded outputs and counts missing recordings."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from batching.config import ReplayExpertConfig
from batching.engines.registry import build_engine
from common.errors import ConfigError, DataError
from common.generation import GenRequest


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def test_replay_serves_recordings_and_marks_missing(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl.gz", [{"question_id": 1, "pred": "B", "text": "so. The answer is (B)."}])
    engine = build_engine(ReplayExpertConfig(name="m", recordings_dir=str(tmp_path)))
    out = engine.generate(
        [GenRequest(request_id="r1", instance_id="1"), GenRequest(request_id="r2", instance_id="2")]
    )
    assert out[0].text == "so. The answer is (B)." and out[0].extracted == "B" and not out[0].missing
    assert out[1].missing and out[1].text is None
    assert engine.counters.loads == 1 and engine.counters.missing == 1 and engine.counters.requests == 2
    engine.unload()
    assert engine.counters.unloads == 1


def test_replay_missing_file_and_bad_row_are_clear_errors(tmp_path: Path) -> None:
    engine = build_engine(ReplayExpertConfig(name="absent", recordings_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="no recording 'absent'"):
        engine.load()
    (tmp_path / "bad.jsonl").write_text('{"question_id": 1, "pred": "A"}\nnot json\n')
    bad = build_engine(ReplayExpertConfig(name="bad", recordings_dir=str(tmp_path)))
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        bad.load()
