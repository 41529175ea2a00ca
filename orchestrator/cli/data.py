"""`symoe data convert`: other question formats to question files for `symoe run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from common.errors import ConfigError, SymbolicMoEError
from orchestrator.cli.main import HELP_MARKUP, app, console, err_console, fail

data_app = typer.Typer(help="Prepare question files.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP)
app.add_typer(data_app, name="data")


@data_app.command("convert")
def data_convert(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="A split file or MMLU-Pro rows")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Question file: .jsonl or .jsonl.gz")],
    source: Annotated[str, typer.Option("--from", metavar="FORMAT", help="auto, split or mmlu_pro")] = "auto",
    skip_malformed: Annotated[
        bool, typer.Option("--skip-malformed", help="Skip and count malformed rows instead of failing")
    ] = False,
) -> None:
    """Convert questions into the file format `symoe run --input` reads (one JSON object per line).

    SRC is a Symbolic-MoE split file (`<TASK>_<split>.json.gz`, e.g. `MMLU_Pro_test.json.gz`; options
    written inline after "The options are:") or MMLU-Pro rows (`question_id`, `question`, `options`,
    `answer`, `category`; e.g. `mmlu_pro_recordings/questions.jsonl.gz`). GPQA is written gzipped only.
    """
    from orchestrator.datasets.convert import convert_questions

    try:
        if source not in ("auto", "split", "mmlu_pro"):
            raise ConfigError(f"--from {source!r}: expected auto, split or mmlu_pro")
        done = convert_questions(src, out, source=source, skip_malformed=skip_malformed)  # type: ignore[arg-type]
    except SymbolicMoEError as exc:
        fail(exc)
    if done.skipped:
        err_console.print(
            f"[yellow]skipped {done.skipped} malformed row(s) of {escape(str(src))} (--skip-malformed)[/]"
        )
    console.print(
        escape(f"wrote {done.written} {done.task} questions ({done.source} format) to {done.out}"),
        highlight=False,
    )
