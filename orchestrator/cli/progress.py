"""Progress bars of the CLI: one bar per stage and expert, and the run's overall/stage/model bars.

On a terminal they are rich bars; when stdout is not a terminal (a log file, CI, a pipe), the same calls
print one plain line per task that moved, every ``SYMOE_PROGRESS_SECONDS`` (10 s by default), so a long
step is never silent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from orchestrator.cli.main import console


class StageBars:
    """One progress bar per (stage, expert)."""

    def __init__(self, bars: Progress | PeriodicLines | None) -> None:
        self.bars = bars
        self.tasks: dict[tuple[str, str], TaskID] = {}

    def hook(self, stage: str) -> Callable[[str, int, int], None]:
        def update(expert: str, done: int, total: int) -> None:
            if self.bars is None:
                return
            key = (stage, expert)
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(escape(f"{stage}: {expert}"), total=total)
            self.bars.update(self.tasks[key], completed=done)

        return update

    def steps(self, bench: str) -> Callable[[int, int], None]:
        """A bench's protocol bar: splits (folds x seeds) fitted and answered."""

        def update(done: int, total: int) -> None:
            if self.bars is None:
                return
            key = (bench, "splits")
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(escape(f"{bench}: methods over splits"), total=total)
            self.bars.update(self.tasks[key], completed=done)

        return update


class RunBars:
    """`symoe run` bars: overall, one per stage, one per model (prompts done/total, tokens/s)."""

    def __init__(self, bars: Progress | PeriodicLines | None) -> None:
        self.bars = bars
        self.done: dict[tuple[str, str], tuple[int, int]] = {}
        self.tasks: dict[str, TaskID] = {}
        self.rate: dict[str, tuple[int, float]] = {}

    def _task(self, key: str, label: str) -> TaskID:
        assert self.bars is not None
        if key not in self.tasks:
            self.tasks[key] = self.bars.add_task(escape(label), total=None, rate="")  # names as written
        return self.tasks[key]

    def progress(self, stage: str, model: str, done: int, total: int) -> None:
        if self.bars is None:
            return
        self.done[(stage, model)] = (done, total)
        overall = self._task("*", "overall")
        self.bars.update(overall, completed=sum(d for d, _ in self.done.values()),
                         total=sum(t for _, t in self.done.values()))  # fmt: skip
        per_stage = [v for (s, _), v in self.done.items() if s == stage]
        self.bars.update(self._task(stage, f"{stage}"), completed=sum(d for d, _ in per_stage),
                         total=sum(t for _, t in per_stage))  # fmt: skip
        tokens, seconds = self.rate.get(model, (0, 0.0))
        rate = f"{tokens / seconds:.0f} tok/s" if seconds > 0 else ""
        self.bars.update(self._task(f"{stage}:{model}", f"  {stage}: {model}"), completed=done, total=total,
                         rate=rate)  # fmt: skip

    def tokens(self, stage: str, model: str, tokens: int, seconds: float) -> None:
        t, s = self.rate.get(model, (0, 0.0))
        self.rate[model] = (t + tokens, s + seconds)


class _NoBars:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass(kw_only=True)
class _Line:
    description: str
    total: float | None
    completed: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    shown: float | None = None
    """``completed`` when last printed (None: never)."""


class PeriodicLines:
    """The subset of rich's ``Progress`` the CLI uses (``add_task``, ``update``), printed as plain lines:
    at most one line per moving task every ``interval`` seconds, and each moved task's last state when a
    block longer than ``interval`` ends."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.lines: dict[TaskID, _Line] = {}
        self.start = self.last = time.monotonic()

    def __enter__(self) -> PeriodicLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self._flush(final=True)

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> TaskID:
        task = TaskID(len(self.lines))
        self.lines[task] = _Line(description=description, total=total, fields=fields)
        return task

    def update(
        self, task: TaskID, *, completed: float | None = None, total: float | None = None, **fields: Any
    ) -> None:
        line = self.lines[task]
        if completed is not None:
            line.completed = completed
        if total is not None:
            line.total = total
        line.fields.update(fields)
        if time.monotonic() - self.last >= self.interval:
            self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        self.last = time.monotonic()
        elapsed = self.last - self.start
        if final and elapsed < self.interval:
            return  # a block shorter than one interval stays silent
        for line in self.lines.values():
            if line.shown == line.completed or (
                final and line.shown is not None and line.total == line.completed
            ):
                continue
            of = f"/{line.total:.0f}" if line.total is not None else ""
            rate = f" {line.fields['rate']}" if line.fields.get("rate") else ""
            text = f"progress: {line.description.strip()} {line.completed:.0f}{of}{rate} ({elapsed:.0f} s)"
            console.print(escape(text), highlight=False, soft_wrap=True)
            line.shown = line.completed


def progress_bars(enabled: bool, *, with_rate: bool = False) -> Progress | PeriodicLines | _NoBars:
    """Transient rich bars (description, bar, done/total, elapsed; a ``rate`` field when asked) on a
    terminal; :class:`PeriodicLines` elsewhere."""
    if not enabled:
        return _NoBars()
    if not console.is_terminal:
        return PeriodicLines(float(os.environ.get("SYMOE_PROGRESS_SECONDS", "10")))
    rate = (TextColumn("{task.fields[rate]}"),) if with_rate else ()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *rate,
        console=console,
        transient=True,
    )
