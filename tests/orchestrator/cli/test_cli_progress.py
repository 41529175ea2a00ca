"""Progress when stdout is not a terminal: plain periodic lines instead of silent rich bars."""

from __future__ import annotations

import pytest

from orchestrator.cli.progress import PeriodicLines, StageBars, progress_bars


def test_piped_output_gets_periodic_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with PeriodicLines(interval=0.0) as bars:
        hook = StageBars(bars).hook("experts")
        for done in (0, 5, 10):
            hook("zoo-add", done, 10)
        hook("zoo-add", 10, 10)  # no move, no line
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "progress: experts: zoo-add 0/10",
        "progress: experts: zoo-add 5/10",
        "progress: experts: zoo-add 10/10",
    ]


def test_a_short_block_stays_silent_and_a_long_one_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with PeriodicLines(interval=3600.0) as bars:
        task = bars.add_task("embedding [questions]", total=4)  # markup-like text is printed as is
        bars.update(task, completed=4)
    assert capsys.readouterr().out == ""
    bars = PeriodicLines(interval=0.0)
    task = bars.add_task("embedding [questions]", total=None)
    bars.update(task, completed=7)
    assert capsys.readouterr().out.startswith("progress: embedding [questions] 7 (")


def test_progress_bars_pick_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMOE_PROGRESS_SECONDS", "2.5")
    bars = progress_bars(True)  # pytest's captured stdout is no terminal
    assert isinstance(bars, PeriodicLines) and bars.interval == 2.5
    assert progress_bars(False).__enter__() is None
