"""Video input: duration, frame rate and shot cuts (ffprobe / ffmpeg's scene filter), alignment, muxing.

Cuts are the presentation times of the first frame of each new shot, as ffmpeg's ``select='gt(scene,T)'``
with ``showinfo`` reports them, so an event snapped to a cut starts on that frame. Alignment moves each
foreground event (speech, sfx) whose start is within ``snap_window_s`` of a cut onto the nearest unused
cut; the plan reviewer then fixes any overlap that creates.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agents.audio.timeline import Timeline
from common.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
_PTS = re.compile(r"pts_time:\s*([0-9.]+)")


class VideoInfo(BaseModel):
    """What the planner needs from a video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    duration_s: float
    fps: float
    cuts_s: tuple[float, ...]

    @property
    def frame_s(self) -> float:
        return 1.0 / self.fps


def _run(args: list[str], what: str, path: Path) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError as exc:
        raise DataError(
            f"{args[0]} is not installed; run scripts/setup.sh (installs ffmpeg)", path=str(path)
        ) from exc
    if proc.returncode != 0:
        raise DataError(f"{what} failed: {proc.stderr.strip()[-400:]}", path=str(path))
    return proc


def probe_video(path: str | Path, scene_threshold: float = 0.3) -> VideoInfo:
    """Duration, frame rate and cuts of a video file.

    Raises:
        DataError: ffmpeg is missing or cannot read the file, or it has no video stream.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("video not found; pass an existing file", path=str(p))
    probe = _run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=avg_frame_rate,r_frame_rate:format=duration",
            "-of",
            "json",
            str(p),
        ],
        "ffprobe",
        p,
    )
    info = json.loads(probe.stdout or "{}")
    streams = info.get("streams") or []
    if not streams:
        raise DataError("no video stream; pass a video file", path=str(p))
    num, _, den = (streams[0].get("avg_frame_rate") or streams[0].get("r_frame_rate") or "25/1").partition(
        "/"
    )
    fps = float(num) / float(den or 1) if float(num) > 0 else 25.0
    duration_s = float(info.get("format", {}).get("duration", 0.0))
    scan = _run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(p),
            "-filter:v",
            f"select='gt(scene,{scene_threshold})',showinfo",
            "-an",
            "-f",
            "null",
            "-",
        ],
        "ffmpeg scene scan",
        p,
    )
    cuts = sorted(
        {
            round(float(m), 6)
            for line in scan.stderr.splitlines()
            if "Parsed_showinfo" in line
            for m in _PTS.findall(line)
        }
    )
    return VideoInfo(path=str(p), duration_s=duration_s, fps=round(fps, 6), cuts_s=tuple(cuts))


def align_to_cuts(timeline: Timeline, cuts_s: tuple[float, ...], snap_window_s: float) -> Timeline:
    """Snap foreground events near a cut onto it (each cut taken once, nearest first)."""
    used: set[float] = set()
    events = []
    notes = list(timeline.notes)
    for e in sorted(timeline.events, key=lambda e: e.start_s):
        if e.kind not in ("speech", "sfx") or not cuts_s:
            events.append(e)
            continue
        free = [c for c in cuts_s if c not in used and abs(c - e.start_s) <= snap_window_s]
        if not free:
            events.append(e)
            continue
        cut = min(free, key=lambda c: abs(c - e.start_s))
        used.add(cut)
        notes.append(f"{e.id}: aligned to the cut at {cut:g} s (planned {e.start_s:g} s)")
        events.append(e.model_copy(update={"start_s": cut, "cut_s": cut}))
    order = {e.id: i for i, e in enumerate(timeline.events)}
    events.sort(key=lambda e: order[e.id])
    return timeline.model_copy(update={"events": tuple(events), "notes": tuple(notes)})


def plan_for_video(info: VideoInfo) -> str:
    """A brief for a video that comes without one: a whoosh on every cut, room tone and a calm score."""
    lines = ["title: " + Path(info.path).stem, "mood: calm", "music: soft pad", "ambience: room tone"]
    lines += [f"@{c:.3f} [sfx] whoosh" for c in info.cuts_s]
    return "\n".join(lines)


def mux(video: str | Path, audio: str | Path, out: str | Path, hold_s: float = 0.0) -> Path:
    """The video with ``audio`` as its sound track (audio AAC).

    The video stream is copied; when the soundtrack is longer (``hold_s`` > 0), the picture is re-encoded
    with its last frame held for ``hold_s`` seconds, so no line is cut. The output ends with the longer
    of the two.
    """
    out = Path(out)
    picture = ["-c:v", "copy"]
    if hold_s > 0:
        picture = ["-vf", f"tpad=stop_mode=clone:stop_duration={hold_s:.3f}", "-c:v", "libx264",
                   "-preset", "veryfast", "-pix_fmt", "yuv420p"]  # fmt: skip
    _run(
        ["ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-i", str(video), "-i", str(audio),
         "-map", "0:v:0", "-map", "1:a:0", *picture, "-c:a", "aac", "-b:a", "192k", str(out)],
        "ffmpeg mux",
        Path(video),
    )  # fmt: skip
    return out
