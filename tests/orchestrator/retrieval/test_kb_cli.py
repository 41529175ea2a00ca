"""`symoe kb add|search|stats` end to end on a real store (the CLI builds its own MiniLM embedder)."""

from __future__ import annotations

from pathlib import Path

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
