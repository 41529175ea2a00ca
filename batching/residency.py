"""Model residency: which expert models stay loaded within a memory budget (lazy load, LRU evict).

The semantics follow Ray Serve's ``serve.multiplexed(max_num_models_per_replica=N)``, with memory in
GiB instead of a model count, so several small models stay resident together while a large one gets
the budget to itself:

- **Lazy load.** :meth:`ResidencyManager.acquire` loads a model only when it is not resident.
- **LRU evict.** When a new model does not fit, the least recently acquired non-pinned models are
  unloaded until it does. Pinned models are never evicted.
- **Count mode.** Without a budget (``budget_gib=None``), ``max_models`` caps how many models are resident
  (1: each model stays loaded until the next one is acquired), and no footprint is needed.
- **Too large.** A model whose footprint exceeds the whole budget raises
  :class:`~common.errors.ResidencyError` before anything is evicted.
- **Prefetch.** :meth:`ResidencyManager.prefetch` reads the next model's weight files in a background
  thread, in fixed-size chunks that are discarded at once, so the OS page cache is warm when the model
  loads. The disk read overlaps the current model's generation; at most one chunk per prefetch is ever
  held in Python memory.

Example::

    residency = ResidencyManager(budget_gib=40, footprints={"llama-8b": 18.0, "qwen-7b": 17.0})
    residency.acquire("llama-8b", engines["llama-8b"])   # loads
    residency.prefetch("qwen-7b", "/models/qwen-7b")     # warms the page cache meanwhile
    engines["llama-8b"].generate(batch)
    residency.acquire("qwen-7b", engines["qwen-7b"])     # loads; llama-8b stays (35 GiB <= 40 GiB)
    residency.release_all()

The manager is a plain class (no Ray) and, like engines, not thread-safe: one caller at a time.
Prefetch threads only read files and never touch the manager's state.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from batching.engines.base import Engine
from common.errors import ConfigError, ResidencyError

logger = logging.getLogger(__name__)

FOOTPRINT_OVERHEAD = 1.2
"""Estimated footprint = weight bytes on disk x this factor.

The 20% covers what loading adds on top of the raw weights (framework buffers, allocator slack, the
CUDA context share); it does not cover a KV cache, which vLLM sizes separately from
``gpu_memory_utilization``. Set ``footprint_gib`` in the expert config where the estimate is off.
"""

PREFETCH_CHUNK_BYTES = 8 * 2**20
"""Bytes read per ``readinto`` call while prefetching; the only buffer a prefetch ever holds."""

_NO_LOCAL_WEIGHTS = frozenset({"replay", "openai_http"})
"""Engines that hold no model weights in this process (footprint 0)."""

_GIB = 2**30


def weight_files(model_path: str | Path) -> list[Path]:
    """The weight files of a local model folder: ``*.safetensors`` if any, else ``*.bin``.

    Hugging Face folders often ship both formats with the same weights, so counting both would double
    the size; safetensors wins because it is what transformers and vLLM load when present.

    Args:
        model_path: a local model folder.

    Returns:
        The files, sorted by name; empty when the folder has none (or does not exist).
    """
    folder = Path(model_path)
    if not folder.is_dir():
        return []
    for pattern in ("*.safetensors", "*.bin"):
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return found
    return []


def estimate_footprint_gib(model_path: str | Path, overhead: float = FOOTPRINT_OVERHEAD) -> float:
    """Estimate the memory a loaded model needs from its weights' size on disk.

    The rule is ``sum(size of weight files) x overhead`` in GiB (see :func:`weight_files` for which files
    count and :data:`FOOTPRINT_OVERHEAD` for the factor). It assumes the model loads in the dtype it is
    stored in; a float32 checkpoint loaded as bfloat16 needs about half.

    Args:
        model_path: a local model folder.
        overhead: multiplier on the on-disk size.

    Returns:
        The estimated footprint in GiB.

    Raises:
        ConfigError: the folder has no ``*.safetensors`` or ``*.bin`` files.
    """
    files = weight_files(model_path)
    if not files:
        raise ConfigError(
            f"cannot estimate the footprint of {model_path}: no *.safetensors or *.bin files there; "
            "set `footprint_gib` in the expert config"
        )
    return sum(f.stat().st_size for f in files) * overhead / _GIB


def local_model_path(config: Any) -> Path | None:
    """The local folder an expert config loads from, or None (hub id, HTTP or replay expert)."""
    if getattr(config, "engine", None) in _NO_LOCAL_WEIGHTS:
        return None
    model_id = getattr(config, "model_id", None)
    if not isinstance(model_id, str):
        return None
    path = Path(model_id).expanduser()
    return path if path.is_dir() else None


def resolve_footprint_gib(config: Any) -> float:
    """An expert's footprint: ``footprint_gib`` when set, 0 for engines without local weights, else estimated.

    Args:
        config: an expert config (any of :data:`batching.config.ExpertConfig`).

    Raises:
        ConfigError: the footprint is unset and the model is not a local folder with weight files.
    """
    if getattr(config, "footprint_gib", None) is not None:
        return float(config.footprint_gib)
    if getattr(config, "engine", None) in _NO_LOCAL_WEIGHTS:
        return 0.0
    path = local_model_path(config)
    if path is None:
        raise ConfigError(
            f"expert {getattr(config, 'name', '?')!r}: footprint unknown because model "
            f"{getattr(config, 'model_id', '?')!r} is not a local folder; set `footprint_gib`"
        )
    return estimate_footprint_gib(path)


class Prefetch:
    """One background read of a model's weight files (see :meth:`ResidencyManager.prefetch`).

    Attributes:
        name: the model being prefetched.
        files: the files it reads, in order.
        bytes_read: bytes read so far (each chunk is discarded after reading).
    """

    def __init__(self, name: str, files: Sequence[Path], chunk_bytes: int = PREFETCH_CHUNK_BYTES) -> None:
        self.name = name
        self.files = list(files)
        self.bytes_read = 0
        self._chunk_bytes = chunk_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"prefetch-{name}", daemon=True)

    def start(self) -> Prefetch:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        """True once the thread has finished (read everything, stopped, or failed)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the read ends or ``timeout_s`` passes; return ``done``."""
        self._thread.join(timeout_s)
        return self.done

    def stop(self) -> None:
        """Ask the thread to stop after its current chunk, and wait for it."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        buf = bytearray(self._chunk_bytes)  # reused: memory held is one chunk, whatever the model size
        try:
            for path in self.files:
                with path.open("rb", buffering=0) as fh:
                    while not self._stop.is_set():
                        n = fh.readinto(buf)
                        if not n:
                            break
                        self.bytes_read += n
                if self._stop.is_set():
                    break
        except OSError as exc:  # an optimisation only: the load itself will report a real problem
            logger.warning("prefetch of %s stopped: %s", self.name, exc)
            return
        logger.debug(
            "prefetched %s: %.3f GiB in %.2fs%s",
            self.name,
            self.bytes_read / _GIB,
            time.perf_counter() - start,
            " (stopped early)" if self._stop.is_set() else "",
        )


class ResidencyManager:
    """Keeps expert models loaded within a memory budget: lazy load, LRU eviction, pins, prefetch.

    Args:
        budget_gib: memory the resident models may use together (GPU memory for GPU engines, RAM for
            CPU ones); None to cap the number of models instead (``max_models``).
        footprints: each model's footprint in GiB. A model missing here is sized from its engine's
            config on first acquire (:func:`resolve_footprint_gib`).
        max_models: the most models resident at once (None: no cap; required without a budget).

    Attributes:
        loads: models loaded through this manager.
        evictions: models unloaded to make room.
        load_seconds: time spent in ``engine.load()`` calls made by this manager.
        unload_seconds: time spent in ``engine.unload()`` calls made by this manager (evictions and
            releases).
    """

    def __init__(
        self,
        budget_gib: float | None,
        footprints: Mapping[str, float] | None = None,
        *,
        max_models: int | None = None,
    ) -> None:
        if budget_gib is not None and budget_gib <= 0:
            raise ConfigError(f"residency budget_gib must be > 0, got {budget_gib}")
        if budget_gib is None and max_models is None:
            raise ConfigError("residency: give a memory budget (budget_gib) or a model count (max_models)")
        if max_models is not None and max_models < 1:
            raise ConfigError(f"residency max_models must be >= 1, got {max_models}")
        self.budget_gib = float(budget_gib) if budget_gib is not None else math.inf
        self.max_models = max_models
        self._footprints: dict[str, float] = dict(footprints or {})
        self._resident: OrderedDict[str, Engine] = OrderedDict()  # least recently used first
        self._pinned: set[str] = set()
        self._prefetches: dict[str, Prefetch] = {}
        self.loads = 0
        self.evictions = 0
        self.load_seconds = 0.0
        self.unload_seconds = 0.0

    @classmethod
    def from_configs(cls, budget_gib: float, configs: Sequence[Any]) -> ResidencyManager:
        """Build a manager whose footprints come from expert configs (set or estimated)."""
        return cls(budget_gib, {c.name: resolve_footprint_gib(c) for c in configs})

    # -- state -----------------------------------------------------------------------------------

    def resident(self) -> list[str]:
        """Resident models, least recently used first."""
        return list(self._resident)

    @property
    def used_gib(self) -> float:
        return sum(self._footprints.get(n, 0.0) for n in self._resident)

    @property
    def free_gib(self) -> float:
        return self.budget_gib - self.used_gib

    def footprint_gib(self, name: str, engine: Engine | None = None) -> float:
        """The footprint of ``name``, sized from ``engine.config`` (and remembered) when not given.

        In count mode (no budget) footprints do not matter and unknown ones count as 0.
        """
        if name not in self._footprints and math.isinf(self.budget_gib):
            return 0.0
        if name not in self._footprints:
            if engine is None:
                raise ConfigError(f"residency: no footprint for model {name!r}; set `footprint_gib`")
            self._footprints[name] = resolve_footprint_gib(engine.config)
        return self._footprints[name]

    # -- load / evict ----------------------------------------------------------------------------

    def acquire(self, name: str, engine: Engine) -> None:
        """Make ``name`` resident (loading it if needed) and mark it most recently used.

        Args:
            name: the model's name (the key of ``footprints``).
            engine: the model's engine; ``load()`` is called on it when it is not resident.

        Raises:
            ResidencyError: the model is larger than the whole budget, or pinned models leave no room.
        """
        if name in self._resident:
            self._resident.move_to_end(name)
            engine.load()  # no-op unless someone unloaded it behind our back
            return
        need = self.footprint_gib(name, engine)
        if need > self.budget_gib:
            raise ResidencyError(
                f"model {name!r} needs {need:.2f} GiB but the residency budget is {self.budget_gib:.2f} GiB; "
                "raise the budget, set a smaller `footprint_gib` if the estimate is too high, or use a "
                "smaller/quantized model"
            )
        self._make_room(name, need)
        self._stop_prefetch(name)  # the load reads the files itself now
        was_loaded = engine.is_loaded  # loaded outside the manager: adopt it without counting a load
        start = time.perf_counter()
        engine.load()
        seconds = time.perf_counter() - start
        self._resident[name] = engine
        self.loads += int(not was_loaded)
        self.load_seconds += seconds
        logger.info(
            "residency: loaded %s (%.2f GiB; %.2f/%.2f GiB used, %d resident) in %.2fs",
            name,
            need,
            self.used_gib,
            self.budget_gib,
            len(self._resident),
            seconds,
        )

    def fits_now(self, name: str, engine: Engine | None = None) -> bool:
        """Whether ``name`` could be loaded now without evicting anything (or is resident already):
        the executor starts a model early only then, so an early start never pushes out a model in use."""
        if name in self._resident:
            return True
        return self._fits(self.footprint_gib(name, engine))

    def _fits(self, need: float) -> bool:
        count_ok = self.max_models is None or len(self._resident) < self.max_models
        return count_ok and self.free_gib >= need

    def _make_room(self, name: str, need: float) -> None:
        for victim in [n for n in self._resident if n not in self._pinned]:
            if self._fits(need):
                return
            self._unload(victim, reason=f"to fit {name}")
            self.evictions += 1
        if not self._fits(need):
            room = (
                f"{len(self._resident)} of at most {self.max_models} models are resident"
                if math.isinf(self.budget_gib)
                else f"needs {need:.2f} GiB, {self.free_gib:.2f} of {self.budget_gib:.2f} GiB are free,"
            )
            raise ResidencyError(
                f"model {name!r}: {room} and the rest is pinned by {sorted(self._pinned)}; "
                "unpin a model or raise the budget"
            )

    def _unload(self, name: str, reason: str) -> None:
        engine = self._resident.pop(name)
        start = time.perf_counter()
        engine.unload()
        seconds = time.perf_counter() - start
        self.unload_seconds += seconds
        logger.info(
            "residency: evicted %s (%.2f GiB, %s; %.2f/%.2f GiB used) in %.2fs",
            name,
            self._footprints.get(name, 0.0),
            reason,
            self.used_gib,
            self.budget_gib,
            seconds,
        )

    def release(self, name: str) -> None:
        """Unload ``name`` now (and unpin it); a model that is not resident is ignored."""
        self._pinned.discard(name)
        if name in self._resident:
            self._unload(name, reason="released")

    def release_all(self) -> None:
        """Unload every resident model, pinned ones included, and stop every prefetch."""
        for prefetch in self._prefetches.values():
            prefetch.stop()
        self._prefetches.clear()
        self._pinned.clear()
        for name in list(self._resident):
            self._unload(name, reason="released")

    close = release_all

    def pin(self, name: str) -> None:
        """Never evict ``name`` (it may be pinned before it is acquired)."""
        self._pinned.add(name)

    def unpin(self, name: str) -> None:
        """Make ``name`` evictable again."""
        self._pinned.discard(name)

    # -- prefetch --------------------------------------------------------------------------------

    def prefetch(self, name: str, model_path: str | Path) -> Prefetch | None:
        """Warm the OS page cache with ``name``'s weight files in a background thread.

        Skipped (returns None) when the model is resident, already being prefetched, has no weight
        files at ``model_path``, or its files are larger than the host memory currently available (the
        page cache would only push out other cached data). The thread reads one chunk at a time into a
        reused buffer, so it never holds more than :data:`PREFETCH_CHUNK_BYTES`.

        Args:
            name: the model to prefetch.
            model_path: its local folder.

        Returns:
            The running :class:`Prefetch`, or None when skipped.
        """
        running = self._prefetches.get(name)
        if name in self._resident or (running is not None and not running.done):
            return None
        files = weight_files(model_path)
        size = sum(f.stat().st_size for f in files)
        available = _available_host_bytes()
        if not files or (available is not None and size > available):
            logger.debug("prefetch of %s skipped (%d bytes, %s available)", name, size, available)
            return None
        self._prefetches[name] = Prefetch(name, files).start()
        return self._prefetches[name]

    def _stop_prefetch(self, name: str) -> None:
        prefetch = self._prefetches.pop(name, None)
        if prefetch is not None:
            prefetch.stop()


def available_host_gib() -> float | None:
    """The host's available memory in GiB (``MemAvailable``), or None where it cannot be read."""
    available = _available_host_bytes()
    return None if available is None else available / _GIB


def _available_host_bytes() -> int | None:
    """``MemAvailable`` from /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def plan_load_order(stage_experts: Sequence[Sequence[str]]) -> list[list[str]]:
    """Order each stage's experts so models carry over between consecutive stages instead of reloading.

    The rule, applied stage by stage (duplicates within a stage are dropped, first one kept):

    1. A stage starts with the experts it shares with the previous stage, most recently used there
       first (the reverse of their order in the previous stage). Those are the models an LRU residency
       still holds, and using them before any new load means none of them is evicted first.
    2. Then come the experts it does not share with either neighbour, in their given order.
    3. It ends with the experts it shares only with the next stage (e.g. an expert that is also the
       aggregator), in their given order, so they are the most recently used when the next stage begins.

    An expert shared with both neighbours goes first (rule 1): a reload saved now is certain, one saved
    later depends on the budget. Consequence: whenever the last model of a stage is also used by the next
    stage, it is that stage's first model, so even a budget of one model never loads it twice in a row.

    Args:
        stage_experts: the experts of each stage, in execution order of the stages.

    Returns:
        The same experts per stage, reordered.
    """
    stages = [list(dict.fromkeys(s)) for s in stage_experts]
    ordered: list[list[str]] = []
    for i, experts in enumerate(stages):
        prev = ordered[i - 1] if i else []
        nxt = set(stages[i + 1]) if i + 1 < len(stages) else set()
        members = set(experts)
        carried = [e for e in reversed(prev) if e in members]
        rest = [e for e in experts if e not in set(carried)]
        ordered.append(carried + [e for e in rest if e not in nxt] + [e for e in rest if e in nxt])
    return ordered
