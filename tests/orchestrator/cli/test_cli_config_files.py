"""Config files a user hands the CLI that are not what they should be: binary or non-UTF-8 YAML, and local
model paths or vocabularies that do not exist. Each fails with a clear error (exit 2, no traceback), and a
run fails before its id is printed or a run is recorded in the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from batching.journal.store import RunStore
from orchestrator.cli import app

ROOT = Path(__file__).resolve().parents[3]
ZOO_POOL = ROOT / "configs" / "pools" / "zoo-cpu.yaml"
QUESTIONS = ROOT / "examples" / "questions.jsonl"
BINARY = bytes(range(256)) * 4
LATIN1 = "name: café-pool\nexperts: []\n".encode("latin-1")


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("content", [BINARY, LATIN1], ids=["binary", "latin-1"])
@pytest.mark.parametrize("command", ["run", "bench", "suite", "profile"])
def test_undecodable_config_files_fail_cleanly(tmp_path: Path, content: bytes, command: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    out = str(tmp_path / "out")
    args = {
        "run": ["run", "--pool", str(bad), "--input", str(QUESTIONS), "--out", out,
                "--store", str(tmp_path / "runs.sqlite"), "--no-progress"],
        "bench": ["bench", str(bad), "--out", out, "--no-progress"],
        "profile": ["profile", "--pool", str(bad), "--input", str(QUESTIONS), "--out", out + ".json",
                    "--no-progress"],
    }.get(command)  # fmt: skip
    if args is None:  # a suite file that lists the undecodable config
        suite = tmp_path / "suite.yaml"
        suite.write_text("benchmarks: [bad.yaml]\n")
        args = ["bench", str(suite), "--out", out, "--no-progress"]
    code, stdout, stderr = _invoke(*args)
    assert code == 2, stderr
    assert "Traceback" not in stderr and "UnicodeDecodeError" not in stderr
    assert str(bad) in stderr.replace("\n", "") and "not UTF-8 text" in stderr
    assert "run:" not in stdout


def _pool_with(tmp_path: Path, old: str, new: str) -> Path:
    text = ZOO_POOL.read_text()
    assert old in text
    text = text.replace(old, new)
    profiles = ZOO_POOL.parent / "zoo-cpu.profiles.json"
    text = text.replace("profiles: zoo-cpu.profiles.json", f"profiles: {profiles}")
    text = text.replace("../skills/zoo_skills.yaml", str(ROOT / "configs" / "skills" / "zoo_skills.yaml"))
    pool = tmp_path / "pool.yaml"
    pool.write_text(text)
    return pool


@pytest.mark.parametrize(
    ("old", "new", "missing"),
    [
        ('"zoo:zoo-add"', '"./models/no-such-model"', "models/no-such-model"),
        ('"zoo:zoo-add"', '"/nonexistent/weights/zoo-add"', "/nonexistent/weights/zoo-add"),
        ("../skills/zoo_skills.yaml", "/nonexistent/vocab.yaml", "/nonexistent/vocab.yaml"),
    ],
    ids=["relative-model", "absolute-model", "vocabulary"],
)
def test_missing_local_model_or_vocabulary_fails_before_the_run_id(
    tmp_path: Path, old: str, new: str, missing: str
) -> None:
    pool = _pool_with(tmp_path, old, new)
    if "vocab" in new:  # _pool_with pointed the vocabulary at the real one: break it again
        pool.write_text(pool.read_text().replace(str(ROOT / "configs" / "skills" / "zoo_skills.yaml"), new))
    store = tmp_path / "runs.sqlite"
    code, stdout, stderr = _invoke("run", "--pool", str(pool), "--input", str(QUESTIONS), "--out",
                                   str(tmp_path / "out"), "--store", str(store), "--no-progress")  # fmt: skip
    assert code == 2, stderr
    assert stdout == ""  # no `run: ID`
    flat = stderr.replace("\n", "")
    assert missing in flat and "Traceback" not in stderr
    if "vocab" not in new:
        assert "no model at" in flat and "footprint" not in flat and "Repo id" not in flat
    assert RunStore(store).list_runs() == []  # no failed run recorded
