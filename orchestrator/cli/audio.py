"""`symoe audio`: a brief, a JSON timeline or a video in, a mixed and checked soundtrack out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batching.journal.store import DEFAULT_STORE_PATH
from common.errors import SymbolicMoEError
from common.extras import require_extra
from common.resources import config_path
from orchestrator.cli.main import app, console, fail
from orchestrator.cli.progress import progress_bars

DEFAULT_AUDIO_CONFIG = config_path("agents", "audio-cpu.yaml")


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
    store: Annotated[
        Path,
        typer.Option(
            "--store", envvar="SYMOE_STORE", metavar="FILE", help="Run store (SQLite) journaling each step"
        ),
    ] = DEFAULT_STORE_PATH,
    resume: Annotated[str | None, typer.Option("--resume", help="Resume this job's run id")] = None,
    update_profiles: Annotated[
        bool,
        typer.Option("--update-profiles", help="Write learned generator profiles back beside the config"),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per stage")] = True,
) -> None:
    """Plan, generate (recruited generators, supervisor checks and retries), mix and check a soundtrack.

    The first line printed is ``run: <id>``; ``symoe audio --resume <id>`` continues a killed job.
    """
    try:
        require_extra("audio", "symoe audio")
    except SymbolicMoEError as exc:
        fail(exc)
    from agents.audio import AudioTeam, load_audio_config, render_batch

    if source is None and resume is None:
        fail(SymbolicMoEError("symoe audio: give a brief, timeline, video or .jsonl batch, or --resume ID"))
    try:
        cfg = AudioTeam.stored_config(store, resume) if resume else load_audio_config(config)
        if planner or critic:
            update = {"planner": planner or cfg.planner}
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
            )
            try:
                if resume:
                    results = [team.resume(resume)]
                elif source is not None and source.endswith(".jsonl"):
                    results = render_batch(team, source, out)
                else:
                    results = [team.render(source or "", out, brief=brief.read_text() if brief else None)]
            finally:
                team.close()
    except SymbolicMoEError as exc:
        fail(exc)
    for r in results:
        _summary(r)


def _pool_experts(pool: Path):  # type: ignore[no-untyped-def]
    from orchestrator.pool import load_pool_config, resolve_local_models

    return resolve_local_models(load_pool_config(pool)).models()


def _bar_hook(bars):  # type: ignore[no-untyped-def]
    if bars is None:
        return None
    tasks: dict[str, object] = {}

    def hook(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    return hook


def _summary(result) -> None:  # type: ignore[no-untyped-def]
    r = result.report
    console.print(f"run: {result.run_id}")
    console.print(
        f"{r.title}: {r.mix.duration_s:.1f} s, {r.mix.integrated_lufs:.2f} LUFS "
        f"(target {r.mix.target_lufs:g}), "
        f"true peak {r.mix.true_peak_dbtp:.2f} dBTP, {r.mix.clipped_samples} clipped samples, "
        f"music ducked {r.mix.music_duck_db} dB under speech"
    )
    worst = max((abs(e.onset_error_ms or 0.0) for e in r.events), default=0.0)
    retried = sum(e.attempts > 1 for e in r.events)
    console.print(
        f"{len(r.events)} events, {retried} retried, worst onset error {worst:.1f} ms; "
        f"planner {r.planner}; checks {'passed' if r.passed else 'FAILED'}"
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r.stage_seconds.items())
    console.print(f"wall {r.wall_s:.1f} s ({stages}); real-time factor {r.real_time_factor:.2f}")
    console.print(f"wrote {result.out_dir}/mix.wav, mix.png, report.json, timeline.json, stems/")
