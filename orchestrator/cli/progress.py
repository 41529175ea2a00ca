"""Progress bars of the CLI: one bar per stage and expert, and the run's overall/stage/model bars."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from orchestrator.cli.main import console


class StageBars:
    """One progress bar per (stage, expert)."""

    def __init__(self, bars: Progress | None) -> None:
        self.bars = bars
        self.tasks: dict[tuple[str, str], int] = {}

    def hook(self, stage: str):  # type: ignore[no-untyped-def]
        def update(expert: str, done: int, total: int) -> None:
            if self.bars is None:
                return
            key = (stage, expert)
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(escape(f"{stage}: {expert}"), total=total)
            self.bars.update(self.tasks[key], completed=done)

        return update

    def steps(self, bench: str):  # type: ignore[no-untyped-def]
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

    def __init__(self, bars: Progress | None) -> None:
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


def progress_bars(enabled: bool, *, with_rate: bool = False) -> Progress | _NoBars:
    """Transient rich bars (description, bar, done/total, elapsed; a ``rate`` field when asked)."""
    if not enabled:
        return _NoBars()
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
