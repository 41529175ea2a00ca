"""`symoe audio`: a brief, a JSON timeline or a video in, a mixed and checked soundtrack out.

Exit codes: 0 every job delivered with its checks passing; 2 an input, limit or config error (nothing
rendered); 3 a job delivered with failed checks (``--accept-failed`` turns this into 0); 1 a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from batching.journal.store import DEFAULT_STORE_PATH
from common.errors import SymbolicMoEError
from common.extras import require_extra
from common.resources import config_path
from orchestrator.cli.main import VerboseOption, app, check_out_dir, console, err_console, fail, route_logs
from orchestrator.cli.progress import progress_bars

if TYPE_CHECKING:
    from agents.audio.report import AudioJobResult
    from batching.config import ExpertConfig

DEFAULT_AUDIO_CONFIG = config_path("agents", "audio-cpu.yaml")
EXIT_CHECKS_FAILED = 3
"""A job delivered its files but some checks failed (``--accept-failed`` accepts that: exit 0)."""


@app.command()
def audio(
    source: Annotated[
        str | None, typer.Argument(help="Brief (.txt or text), timeline (.json), video, or a .jsonl batch")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (per brief in batch mode)")] = Path(
        "results/audio"
    ),
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            metavar="YAML",
            help="Audio team config (a resumed job keeps its own)",
            show_default="the packaged audio-cpu.yaml",
        ),
    ] = DEFAULT_AUDIO_CONFIG,
    pool: Annotated[
        Path | None, typer.Option("--pool", help="LLM pool for the planner/critic roles named in the config")
    ] = None,
    planner: Annotated[
        str | None, typer.Option(help="rule_based, or a --pool expert to plan with (rule-based fallback)")
    ] = None,
    critic: Annotated[str | None, typer.Option(help="A --pool expert to critique clips")] = None,
    brief: Annotated[Path | None, typer.Option("--brief", help="A brief for a video input")] = None,
    sfx_library: Annotated[
        list[Path] | None,
        typer.Option("--sfx-library", metavar="DIR", help="A folder of your own effect clips (repeatable)"),
    ] = None,
    store: Annotated[
        Path,
        typer.Option(
            "--store", envvar="SYMOE_STORE", metavar="FILE", help="Run store (SQLite) journaling each step"
        ),
    ] = DEFAULT_STORE_PATH,
    resume: Annotated[str | None, typer.Option("--resume", help="Resume this job's run id")] = None,
    accept_failed: Annotated[
        bool,
        typer.Option("--accept-failed", help="Exit 0 even when a job is delivered with failed checks"),
    ] = False,
    update_profiles: Annotated[
        bool,
        typer.Option("--update-profiles", help="Write learned generator profiles back beside the config"),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per stage")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Plan, generate (recruited generators, supervisor checks and retries), mix and check a soundtrack.

    Prints ``logs: PATH`` and ``run: <id>`` before any work; ``symoe audio --resume <id>`` continues a
    killed job. Exit codes: 0 passed, 2 bad input or config, 3 delivered with failed checks (unless
    ``--accept-failed``).
    """
    route_logs("audio", verbose=verbose)
    try:
        require_extra("audio", "symoe audio")
    except SymbolicMoEError as exc:
        fail(exc)
    from agents.audio import AudioTeam, load_audio_config, render_batch

    if source is None and resume is None:
        fail(SymbolicMoEError("symoe audio: give a brief, timeline, video or .jsonl batch, or --resume ID"))
    try:
        if resume is None:
            check_out_dir(out)
        cfg = AudioTeam.stored_config(store, resume) if resume else load_audio_config(config)
        cfg = cfg.with_sfx_library(tuple(str(p.resolve()) for p in sfx_library or ()))
        if planner or critic:
            update: dict[str, Any] = {"planner": planner or cfg.planner}
            if critic:
                update["critic"] = cfg.critic.model_copy(update={"expert": critic})
            cfg = cfg.model_copy(update=update)
        experts = _pool_experts(pool) if pool else []
        with progress_bars(progress) as bars:
            team = AudioTeam(
                cfg,
                store=store,
                llm_experts=experts,
                on_progress=_bar_hook(bars),
                update_profiles=update_profiles,
                on_start=lambda run_id: console.print(f"run: {run_id}", markup=False, highlight=False),
            )
            try:
                if resume:
                    results = [team.resume(resume)]
                elif source is not None and source.endswith(".jsonl"):
                    results = render_batch(team, source, out)
                else:
                    brief_text = _read_brief(brief, cfg.limits) if brief else None
                    results = [team.render(source or "", out, brief=brief_text)]
            finally:
                team.close()
    except SymbolicMoEError as exc:
        fail(exc)
    for r in results:
        _summary(r)
    failed = [r for r in results if not r.report.passed]
    if failed and not accept_failed:
        err_console.print(
            f"{len(failed)} of {len(results)} job(s) delivered with failed checks (see report.json); "
            f"exit {EXIT_CHECKS_FAILED} (--accept-failed exits 0)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(code=EXIT_CHECKS_FAILED)


def _read_brief(path: Path, limits: Any) -> str:
    from agents.audio.limits import check_brief_text, decode_brief

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SymbolicMoEError(f"--brief {path}: cannot read ({exc.strerror or exc})") from exc
    text = decode_brief(data, limits, str(path))
    check_brief_text(text, limits, str(path))
    return text


def _pool_experts(pool: Path) -> list[ExpertConfig]:
    from orchestrator.pool import load_pool_config, resolve_local_models

    return resolve_local_models(load_pool_config(pool)).models


def _bar_hook(bars: Any) -> Callable[[str, int, int], None] | None:
    if bars is None:
        return None
    tasks: dict[str, object] = {}

    def hook(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    return hook


def _say(text: str) -> None:
    """Print a line holding user text: no markup, no emoji codes, no highlighting."""
    console.print(text, markup=False, emoji=False, highlight=False)


def _summary(result: AudioJobResult) -> None:
    r = result.report
    m = r.mix
    lufs = "n/a" if m.integrated_lufs is None else f"{m.integrated_lufs:.2f}"
    lra = "n/a" if m.loudness_range_lu is None else f"{m.loudness_range_lu:.1f}"
    _say(
        f"{r.title}: {m.duration_s:.1f} s, {lufs} LUFS (target {m.target_lufs:g}), LRA {lra} LU, "
        f"true peak {m.true_peak_dbtp:.2f} dBTP, {m.clipped_samples} clipped samples, "
        f"music ducked {m.music_duck_db} dB under speech"
    )
    if m.kind_lufs:
        _say(
            "levels: "
            + ", ".join(f"{k} {'n/a' if v is None else f'{v:.1f}'} LUFS" for k, v in m.kind_lufs.items())
        )
    errors = [abs(e.onset_error_ms) for e in r.events if e.onset_error_ms is not None]
    retried = sum(e.attempts > 1 for e in r.events)
    _say(
        f"{len(r.events)} events, {retried} retried, worst onset error "
        f"{max(errors, default=0.0):.1f} ms; planner {r.planner}; checks {'passed' if r.passed else 'FAILED'}"
    )
    for c in r.line_changes:
        if c.change != "moved":
            _say(f"  {c.change}: {c.id} {c.label!r} - {c.detail}" if c.label else f"  {c.change}: {c.detail}")
    moved = sum(c.change == "moved" for c in r.line_changes)
    if moved:
        _say(
            f"  {moved} event(s) moved for the spoken lengths or measured onsets (report.json: line_changes)"
        )
    for e in r.events:
        if e.kind in ("sfx", "ambience") and e.match_score is not None:
            _say(f"  {e.id} {e.label!r}: {e.source} (similarity {e.match_score:.2f})")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r.stage_seconds.items())
    sessions = f" over {r.sessions} sessions" if r.sessions > 1 else ""
    _say(f"wall {r.wall_s:.1f} s{sessions} ({stages}); real-time factor {r.real_time_factor:.2f}")
    _say(f"wrote {result.out_dir}/mix.wav, mix.png, report.json, timeline.json, stems/")
