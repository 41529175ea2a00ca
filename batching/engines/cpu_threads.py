"""How many CPU threads a local engine's kernels use, and how idle OpenMP threads wait.

On a small or shared CPU the defaults of torch collapse: every kernel of a tiny model is too short to be
worth splitting, and OpenMP's busy-waiting threads fight whatever else runs on the machine. Measured on the
project's 2-core machine (a zoo expert answering 128 questions, ``benchmarks/demo_time.py``): 1 thread
0.4 s CPU; 2 threads with spinning 2.3 s CPU quiet and 8 s wall / 3.9 s CPU next to one busy process; 2
threads with passive waiting 0.3-0.5 s. Hence two defaults:

- :func:`passive_openmp` sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it (it must happen before
  the OpenMP runtime starts, i.e. before torch is imported: entrypoints call it first, engines again
  before their lazy torch import);
- :func:`auto_threads` gives a model whose weights are under :data:`SMALL_MODEL_BYTES` one thread, and
  bigger models every CPU this process may run on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

SMALL_MODEL_BYTES = 256 * 2**20
"""Weights below this size (about 64M float32 parameters) run single-threaded: their kernels are too
short for a second thread to pay for its synchronisation."""


def passive_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), unless already set."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the CPU count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def weight_bytes(model_path: str | Path) -> int | None:
    """Bytes of a local model folder's weight files (None for a hub id or a folder without weights)."""
    folder = Path(model_path)
    if not folder.is_dir():
        return None
    for pattern in ("*.safetensors", "*.bin"):
        files = [p for p in folder.glob(pattern) if p.is_file()]
        if files:
            return sum(p.stat().st_size for p in files)
    return None


def auto_threads(model_path: str | Path, requested: int | None = None) -> int:
    """The thread count for a CPU engine: ``requested`` when given, else by the model's size."""
    if requested is not None:
        return requested
    size = weight_bytes(model_path)
    if size is not None and size < SMALL_MODEL_BYTES:
        return 1
    return available_cpus()
