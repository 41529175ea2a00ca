"""`symoe runs list|show`: the runs journaled in the run store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from batching.journal.store import DEFAULT_STORE_PATH
from common.errors import SymbolicMoEError
from orchestrator.cli.main import HELP_MARKUP, app, console, fail, wide_console

runs_app = typer.Typer(
    help="Inspect the runs journaled in the run store.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP
)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    store: Annotated[
        Path, typer.Option("--store", envvar="SYMOE_STORE", metavar="FILE", help="Run store (SQLite)")
    ] = DEFAULT_STORE_PATH,
    limit: Annotated[int, typer.Option(metavar="N", help="Newest N runs", min=1)] = 20,
) -> None:
    """List the newest runs: id, status, pool, backend, and their last report's generations computed and
    reused (as `runs show` heads its table)."""
    from batching.journal.store import RunStore
    from orchestrator.runs.stats import runs_table

    try:
        runs = RunStore(store).list_runs(limit)
    except SymbolicMoEError as exc:
        fail(exc)
    wide_console().print(runs_table(runs))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="Run id (see `symoe runs list`)")],
    store: Annotated[
        Path, typer.Option("--store", envvar="SYMOE_STORE", metavar="FILE", help="Run store (SQLite)")
    ] = DEFAULT_STORE_PATH,
) -> None:
    """Per stage and expert: calls, computed/reused, failures, load and generation time, tokens/s."""
    from batching.journal.store import RunStore
    from orchestrator.runs.stats import run_table

    try:
        db = RunStore(store)
        record = db.get_run(run_id)
        table = run_table(db, record)
        failures = [x for x in db.events(run_id) if x["kind"] == "failure"]
    except SymbolicMoEError as exc:
        fail(exc)
    wide_console().print(table)
    if record.error:
        console.print(f"[red]failed:[/] {escape(record.error)}")
    for e in failures:
        line = f"worker failure: stage {e['stage']}, expert {e['expert']}: {e['detail']}"
        console.print(escape(line))
