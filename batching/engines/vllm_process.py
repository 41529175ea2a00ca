"""Process supervision for vLLM engines: no EngineCore or Worker process outlives its engine.

vLLM v1 runs a model in an ``EngineCore`` subprocess (and, on CPU, a ``Worker`` under it). This module
makes sure they stop, three ways (see :mod:`batching.engines.vllm_engine` for the engine's side):

1. ``unload``/``close`` shut them down through vLLM, then :func:`stop_processes` terminates any left;
2. SIGTERM to this process: :func:`install_sigterm_handler` (main thread only, chaining the previous
   handler) destroys every engine in :data:`LIVE_ENGINES` first;
3. SIGKILL or a crash, which no handler sees: a :class:`ChildGuard` watchdog process blocks on a pipe
   from this process and, when it closes without the "closed" message, terminates (then kills) them.

It also wakes a ``generate`` blocked on an EngineCore that died (:func:`watch_engine_core`), scopes
``VLLM_ENABLE_V1_MULTIPROCESSING`` to one engine construction (:func:`multiprocessing_env`) and closes the
ZMQ context vLLM leaves open (:func:`close_zmq`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from common.settings import restore_env

logger = logging.getLogger(__name__)

CHILD_EXIT_TIMEOUT_S = 10.0

# -- process hygiene ---------------------------------------------------------------------------------
# Signal handlers are process-wide by nature, so the set of engines they must tear down is too. Engines
# join it in ``_load`` (never in a constructor) and leave it when destroyed; it holds weak references.
LIVE_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()
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


class ChildGuard:
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
            self._watchdog.wait(timeout=CHILD_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()


def _on_sigterm(signum: int, frame: Any) -> None:
    """Destroy every live engine, then do what SIGTERM did before (by default: end the process)."""
    engines = list(LIVE_ENGINES)
    logger.warning("vllm: SIGTERM received; shutting down %d live engine(s)", len(engines))
    for engine in engines:
        engine._destroy(reason="SIGTERM")
    previous = _SIGTERM_STATE["previous"]
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL, or a handler not installed from Python (None)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def install_sigterm_handler() -> None:
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
    import psutil

    return psutil


def descendants() -> dict[int, Any]:
    return {p.pid: p for p in _psutil().Process().children(recursive=True)}


def is_engine_process(proc: Any) -> bool:
    """False for multiprocessing's resource tracker: one per process, shared by every later spawn."""
    psutil = _psutil()
    try:
        return not any("resource_tracker" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def stop_processes(procs: Sequence[Any]) -> int:
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
    _, stuck = psutil.wait_procs(alive, timeout=CHILD_EXIT_TIMEOUT_S)
    for proc in stuck:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(stuck, timeout=CHILD_EXIT_TIMEOUT_S)
    return len(alive)


def watch_engine_core(engine_core: Any, closing: threading.Event) -> None:
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
def multiprocessing_env(*, in_process: bool) -> Iterator[None]:
    """Set ``VLLM_ENABLE_V1_MULTIPROCESSING`` for one ``LLM()`` construction, and keep ``LD_PRELOAD``.

    vLLM reads its environment through ``vllm.envs``, which an in-process EngineCore freezes
    (``enable_envs_cache``) when it starts; the cache is dropped before and after, so each engine of a
    pool gets its own setting.

    vLLM's CPU platform adds tcmalloc and torch's libgomp to ``os.environ["LD_PRELOAD"]`` while it
    configures an engine, for the engine processes it starts then. Left there, every process this one
    starts later would load them too (math-verify workers, ``kb`` subprocesses, Ray workers, tests'
    children), and libgomp would read its OpenMP settings before they can set theirs. So ``LD_PRELOAD``
    is restored once the engine is built; vLLM sets it again for the next engine it configures.
    """
    from vllm import envs

    key = "VLLM_ENABLE_V1_MULTIPROCESSING"
    old = os.environ.get(key)
    preload = os.environ.get("LD_PRELOAD")
    envs.disable_envs_cache()
    if in_process:
        os.environ[key] = "0"
    try:
        yield
    finally:
        if in_process:
            restore_env(key, old)
        restore_env("LD_PRELOAD", preload)
        envs.disable_envs_cache()


def close_zmq(engine_core: Any) -> None:
    """Close the client's ZMQ context, which vLLM's ``shutdown`` leaves open (a ResourceWarning at GC).

    The output thread owns the last sockets and closes them on vLLM's shutdown signal; join it first so
    ``destroy`` never closes a socket another thread is using.
    """
    thread = getattr(engine_core, "output_queue_thread", None)
    if thread is not None:
        thread.join(timeout=CHILD_EXIT_TIMEOUT_S)
    ctx = getattr(engine_core, "ctx", None)
    if ctx is not None and not ctx.closed:
        ctx.destroy(linger=0)
