"""Published routers as bench baselines: LLMRouter and RouteLLM, run from their own packages, offline.

They live in their own virtualenv (the ``peers`` extra pulls gradio, litellm, torch-geometric, peft and
boto3, and installs stray top-level packages), so the bench runs :mod:`.run_peers` with that Python in a
subprocess, once per benchmark for every split, and reads back which expert each router sends each test
question to. A router that is not importable there is skipped with a note; CI needs none of them.

Each peer sends every question to one expert (one call): it is right when that expert's answer is, and a
question the expert never answered is not answered.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("run_peers.py")
DEFAULT_ROUTERS = (
    "llmrouter_knn",
    "llmrouter_svm",
    "llmrouter_mlp",
    "llmrouter_mf",
    "llmrouter_elo",
    "llmrouter_hybrid",
    "routellm_sw_ranking",
    "routellm_mf",
)
_PROBE = "import llmrouter, routellm"


@dataclass
class PeerRun:
    """Per router, per split, the expert column each test question went to; and why any was skipped."""

    picks: dict[str, list[np.ndarray]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def peers_available(python: str) -> str | None:
    """None when ``python`` imports both peer packages, else why not (for the skip note)."""
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "offline-dummy", "PATH": "/usr/bin:/bin"}
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["import failed"])[-1]
        return (
            f"{python} cannot import llmrouter and routellm ({last[:120]}); install the `peers` extra there"
        )
    return None


def run_peers(
    python: str | None,
    embeddings: np.ndarray,
    correct: np.ndarray,
    answered: np.ndarray,
    experts: Sequence[str],
    costs: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    routers: Sequence[str] = DEFAULT_ROUTERS,
) -> PeerRun:
    """Every router's picks on every split (rows index ``embeddings``/``correct``), or notes saying why not.

    Args:
        python: the peers virtualenv's Python (None: this interpreter).
        embeddings: (N, d) question embeddings (our MiniLM vectors).
        correct: (N, m) each expert's correctness.
        answered: (N, m) the expert has a row for the question.
        experts: the m expert names.
        costs: (m,) each expert's mean cost per call.
        splits: (training rows, test rows) per split.
        routers: which peers to run.
    """
    exe = python or sys.executable
    why = peers_available(exe)
    if why is not None:
        logger.warning("peer routers skipped: %s", why)
        return PeerRun(notes={r: f"skipped: {why}" for r in routers})
    rows, bounds = [], []
    at = 0
    for train, test in splits:
        rows += [train, test]
        bounds.append((at, at + len(train), at + len(train) + len(test)))
        at += len(train) + len(test)
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "in.npz", Path(d) / "out.json"
        np.savez(
            inp,
            embeddings=np.asarray(embeddings, dtype=np.float32),
            correct=correct.astype(bool),
            answered=answered.astype(bool),
            experts=np.array(list(experts)),
            costs=np.asarray(costs, float),
            split_rows=np.concatenate(rows).astype(int),
            split_bounds=np.array(bounds, dtype=int),
            routers=np.array(list(routers)),
        )
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "OPENAI_API_KEY": "offline-dummy",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "PATH": "/usr/bin:/bin",
            "HOME": d,
        }
        done = subprocess.run([exe, str(RUNNER), str(inp), str(out)], capture_output=True, text=True, env=env)
        if done.returncode != 0 or not out.exists():
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            return PeerRun(notes={r: f"failed: {tail[0][:200]}" for r in routers})
        result = json.loads(out.read_text())
    picks = {
        name: [np.asarray(p, dtype=int) for p in per_split] for name, per_split in result["picks"].items()
    }
    return PeerRun(picks, dict(result["notes"]), dict(result.get("seconds", {})))
