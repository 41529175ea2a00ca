"""`symoe kb add|search|stats` end to end on a real store (the CLI builds its own MiniLM embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app


def test_kb_add_search_and_stats(corpus: Path, tmp_path: Path) -> None:
    kb = str(tmp_path / "kb")
    (corpus / "blank.txt").write_text("   \n")
    runner = CliRunner()
    added = runner.invoke(
        app, ["kb", "add", str(corpus), "--kb", kb, "--no-progress", "--chunk-chars", "400"]
    )
    assert added.exit_code == 0, added.output
    assert "added 4, replaced 0, moved 0, unchanged 0, skipped 1 sources; +5 / -0 chunks" in added.output
    assert "skipped 1: empty" in added.output and "blank.txt: empty" in added.output

    again = runner.invoke(app, ["kb", "add", str(corpus), "--kb", kb, "--no-progress"])
    assert again.exit_code == 0 and "added 0, replaced 0, moved 0, unchanged 4" in again.output

    found = runner.invoke(app, ["kb", "search", "Which volcano buried Osk?", "--kb", kb, "--k", "2"])
    assert found.exit_code == 0, found.output
    assert "facts#telliq" in found.output and "coverage: top dense" in found.output
    assert found.output.index("facts#telliq") < found.output.index("coverage")

    stats = runner.invoke(app, ["kb", "stats", "--kb", kb])
    assert stats.exit_code == 0, stats.output
    assert "chunks" in stats.output and "FTS on search_text" in stats.output
    assert "all-MiniLM-L6-v2" in stats.output and "BM25 index covers" in stats.output


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines at the runner's 80 columns


def test_kb_errors_exit_2_with_the_fix(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["kb", "stats", "--kb", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "symoe kb add" in _flat(missing.output)
    assert not (tmp_path / "none").exists()  # reading never creates a store
    bad = runner.invoke(app, ["kb", "add", str(tmp_path), "--kb", str(tmp_path / "kb"), "--backend", "spark"])
    assert bad.exit_code == 2 and "--backend 'spark' is not one of local, ray" in _flat(bad.output)
    overlap = runner.invoke(
        app, ["kb", "add", str(tmp_path), "--kb", str(tmp_path / "kb"), "--overlap", "900"]
    )
    assert overlap.exit_code == 2
    assert "kb add: knowledge store: chunk_overlap=900 must be smaller than" in _flat(overlap.output)


@pytest.mark.slow  # two adds and a search, each CLI call loading MiniLM
def test_markup_in_names_and_text_prints_literally(tmp_path: Path) -> None:
    docs = tmp_path / "d["
    docs.mkdir()
    (docs / "[bold]x.txt").write_text(
        "A line with [/] and [red]markup[/red] and :x: about Vexhall lighthouse."
    )
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    for _ in range(2):  # the second add used to fail after committing
        added = runner.invoke(app, ["kb", "add", str(docs), "--kb", kb, "--no-progress"])
        assert added.exit_code == 0, added.output
    found = runner.invoke(app, ["kb", "search", "Vexhall lighthouse", "--kb", kb, "--unit", "chunks"])
    assert found.exit_code == 0, found.output
    flat = _flat(found.output)
    assert "[/] and [red]markup[/red]" in flat and ":x:" in flat and "[bold]x" in flat


def test_missing_paths_and_huge_k_exit_2_without_a_traceback(tmp_path: Path, corpus: Path) -> None:
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    missing = runner.invoke(app, ["kb", "add", str(tmp_path / "missing.txt"), "--kb", kb, "--no-progress"])
    assert missing.exit_code == 2 and "no such file or directory" in _flat(missing.output)
    assert runner.invoke(app, ["kb", "add", str(corpus), "--kb", kb, "--no-progress"]).exit_code == 0
    for k in ("1000000000000", "1000000", "0"):
        out = runner.invoke(app, ["kb", "search", "volcano", "--kb", kb, "--k", k])
        assert out.exit_code == 2 and "Traceback" not in out.output and "--k" in out.output


@pytest.mark.slow  # an add and four maintenance commands through the CLI
def test_remove_and_repair_from_the_cli(tmp_path: Path, corpus: Path) -> None:
    kb = str(tmp_path / "kb")
    runner = CliRunner()
    assert runner.invoke(app, ["kb", "add", str(corpus), "--kb", kb, "--no-progress"]).exit_code == 0
    removed = runner.invoke(app, ["kb", "remove", str(corpus / "qarth.txt"), "--kb", kb])
    assert removed.exit_code == 0 and "removed 1 sources, -1 chunks" in _flat(removed.output)
    (corpus / "velmora.md").unlink()
    gone = runner.invoke(app, ["kb", "remove", "--missing", "--kb", kb])
    assert gone.exit_code == 0 and "removed 1 sources" in _flat(gone.output)
    unknown = runner.invoke(app, ["kb", "remove", str(corpus / "never.txt"), "--kb", kb])
    assert unknown.exit_code == 2 and "not in the store" in _flat(unknown.output)
    repaired = runner.invoke(app, ["kb", "repair", "--kb", kb])
    assert repaired.exit_code == 0 and "removed 0 duplicate rows" in _flat(repaired.output)
