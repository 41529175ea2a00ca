"""Transformers engine: serves one local (or cached) causal LM with batched, left-padded ``generate``.

Guarantees, on top of the :class:`~batching.engines.base.Engine` contract:

- **Ordering.** Results come back in input order, whatever the internal grouping and sorting.
- **Batching.** Requests are grouped by sampling parameters (greedy vs sampled, temperature, top_p,
  seed, stop strings, max_tokens), because ``generate`` takes one set per call. Within a group they
  are sorted by prompt length (longest first, so an out-of-memory error shows on the first batch)
  and cut into batches of ``config.batch_size``, left-padded.
- **Greedy** (temperature 0) output is deterministic. In float32 on CPU it is also batch-invariant
  for the tiny test models (a prompt alone and inside a padded batch give the same text; see
  ``tests/batching/engines/test_hf_engine.py``); in half precision or on GPU kernels padding can change
  low-order bits and, rarely, a near-tie argmax.
- **Sampling** uses temperature and top_p only (top_k off, whatever the model's generation config
  says, matching vLLM's request semantics). A request with a ``seed`` is drawn inside a forked torch
  RNG seeded with it, so the caller's random state is untouched and the same batch reproduces. Requests
  that share a seed (and other params) share one batch and one RNG stream, so two identical seeded
  requests in one call get *different* samples, unlike vLLM's per-request generators. Unseeded
  requests draw from the global torch RNG.
- **Prompts.** A request with ``messages`` is rendered with the tokenizer's chat template (or
  ``config.chat_template``) with ``add_generation_prompt=True`` and tokenized without extra special
  tokens (the template carries BOS); otherwise ``prompt`` is tokenized with the tokenizer's special
  tokens (BOS for Llama-style tokenizers).
- **Limits.** A prompt with at least as many tokens as the model context
  (``max_position_embeddings``) is not generated: its result has ``error`` set and ``text=None``.
  Otherwise generation stops at ``min(max_tokens, context - prompt_tokens)`` new tokens.
- **Stops.** ``finish_reason`` is ``"stop"`` when an EOS token or a stop string ended the output and
  ``"length"`` otherwise. Text is cut before the first stop string (the stop string is not included);
  ``generated_tokens`` counts tokens up to and including the EOS token, or up to the token that
  completed the stop string.
- **Threads.** Not thread-safe; one caller at a time, as every engine. On CPU each ``generate`` runs with
  ``config.cpu_threads`` torch threads (by default one for small models, see
  :mod:`batching.engines.cpu_threads`); the setting is process-wide, so it is applied per call.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from batching.config import TransformersExpertConfig
from batching.engines.base import Engine
from batching.engines.chat_prompt import prompt_excerpt, prompt_token_ids
from batching.engines.cpu_threads import auto_threads
from batching.engines.quiet_loading import quiet_weight_loading
from common.errors import (
    EngineDeadError,
    EngineUnavailableError,
    GenerationError,
)
from common.generation import GenRequest, GenResult, SamplingParams, context_length_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One request after templating and tokenization."""

    index: int
    request: GenRequest
    input_ids: list[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class _GroupKey:
    """Everything ``generate`` takes once per call, so requests sharing it can share a batch."""

    do_sample: bool
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    max_tokens: int


def _group_key(sampling: SamplingParams) -> _GroupKey:
    stop = tuple(s for s in sampling.stop if s)  # an empty stop string would cut every output to ""
    if sampling.temperature == 0:  # greedy: temperature/top_p/seed do not matter
        return _GroupKey(
            do_sample=False, temperature=0.0, top_p=1.0, seed=None, stop=stop, max_tokens=sampling.max_tokens
        )
    return _GroupKey(
        do_sample=True,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=sampling.seed,
        stop=stop,
        max_tokens=sampling.max_tokens,
    )


class TransformersEngine(Engine):
    """Serves one model with Hugging Face transformers (batched ``generate``, left padding).

    Args:
        config: the expert's config; ``model_id`` is a local folder or an already cached hub id.
    """

    kind = "transformers"

    def __init__(self, config: TransformersExpertConfig) -> None:
        super().__init__(config)
        self.config: TransformersExpertConfig = config
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: frozenset[int] = frozenset()
        self._max_context: int | None = None
        self._threads: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _map_errors(self, action: str, request_id: str | None = None) -> Iterator[None]:
        """Translate torch/transformers failures into our errors, most specific first."""
        ctx = {"engine": self.kind, "model": self.config.model_id, "request_id": request_id}
        try:
            yield
        except torch.cuda.OutOfMemoryError as exc:
            raise EngineUnavailableError(
                f"{action}: out of GPU memory on {self.config.device} ({exc}); lower batch_size or free "
                "the device (unload other models)",
                **ctx,
            ) from exc
        except RuntimeError as exc:
            if "CUDA error" in str(exc) or action == "load":
                raise EngineDeadError(f"{action} failed: {exc}", **ctx) from exc
            raise GenerationError(f"{action} failed: {exc}", **ctx) from exc
        except (OSError, ImportError) as exc:  # missing folder/files, unknown architecture, bad device
            raise EngineDeadError(
                f"{action} failed: {exc}; check that `model` is a local model folder or cached hub id",
                **ctx,
            ) from exc
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            cls = EngineDeadError if action == "load" else GenerationError
            raise cls(f"{action} failed: {exc}", **ctx) from exc

    def _load(self) -> None:
        cfg = self.config
        start = time.perf_counter()
        dtype: Any = cfg.dtype if cfg.dtype == "auto" else getattr(torch, cfg.dtype)
        with self._map_errors("load"):
            device = torch.device(cfg.device)
        if device.type == "cuda" and not torch.cuda.is_available():  # torch would only assert deep inside
            raise EngineDeadError(
                f"load failed: device {cfg.device!r} requested but CUDA is not available in this torch "
                f"build/machine; set `device: cpu` or run on a GPU machine",
                engine=self.kind,
                model=cfg.model_id,
            )
        with self._map_errors("load"), quiet_weight_loading():
            tokenizer = AutoTokenizer.from_pretrained(
                cfg.model_id, trust_remote_code=cfg.trust_remote_code, padding_side="left"
            )
            model = AutoModelForCausalLM.from_pretrained(
                cfg.model_id, dtype=dtype, trust_remote_code=cfg.trust_remote_code
            )
            model.to(cfg.device)  # type: ignore[arg-type]  # transformers' wrapped `to` is mistyped
        model.eval()  # type: ignore[no-untyped-call]  # unannotated in transformers
        if tokenizer.pad_token_id is None:  # Llama-style tokenizers have none; EOS is the usual stand-in
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self._eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        self._threads = auto_threads(cfg.model_id, cfg.cpu_threads) if device.type == "cpu" else None
        self._max_context = getattr(model.config, "max_position_embeddings", None)
        self._model, self._tokenizer = model, tokenizer
        gib = model.get_memory_footprint() / 2**30  # type: ignore[no-untyped-call]  # unannotated in transformers
        logger.info(
            "transformers: loaded %s on %s (%s, %.3f GiB, context %s) in %.2fs",
            cfg.model_id,
            cfg.device,
            model.dtype,
            gib,
            self._max_context,
            time.perf_counter() - start,
        )

    def _unload(self) -> None:
        on_cuda = self._model is not None and self._model.device.type == "cuda"
        self._model = None
        self._tokenizer = None
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()
        logger.info("transformers: unloaded %s", self.config.model_id)

    # -- generation ------------------------------------------------------------------------------

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        if self._threads is not None:  # process-wide in torch: another engine may have changed it
            torch.set_num_threads(self._threads)
        results: list[GenResult | None] = [None] * len(batch)
        groups: dict[_GroupKey, list[_Prepared]] = {}
        for index, req in enumerate(batch):
            prepared = self._prepare(index, req)
            if self._max_context is not None and len(prepared.input_ids) >= self._max_context:
                results[index] = self._too_long(prepared)
                continue
            groups.setdefault(_group_key(req.sampling), []).append(prepared)
        for key, members in groups.items():
            members.sort(key=lambda p: len(p.input_ids), reverse=True)
            size = self.config.batch_size
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                for prepared, result in zip(chunk, self._run_batch(key, chunk), strict=True):
                    results[prepared.index] = result
        assert all(r is not None for r in results)  # every request is either too long or in a group
        return [r for r in results if r is not None]

    def _prepare(self, index: int, req: GenRequest) -> _Prepared:
        ids = prompt_token_ids(self._tokenizer, req, self.config, kind=self.kind, map_errors=self._map_errors)
        return _Prepared(index, req, ids)

    def _too_long(self, prepared: _Prepared) -> GenResult:
        req = prepared.request
        message = context_length_error(
            f"prompt has {len(prepared.input_ids)} tokens but expert {self.config.name!r} has a context of "
            f"{self._max_context}; shorten the prompt or use a longer-context model "
            f"(prompt: {prompt_excerpt(req)!r})"
        )
        logger.debug("transformers: request %s not generated: %s", req.request_id, message)
        return GenResult(
            request_id=req.request_id, text=None, prompt_tokens=len(prepared.input_ids), error=message
        )

    def _run_batch(self, key: _GroupKey, chunk: list[_Prepared]) -> list[GenResult]:
        tok, model = self._tokenizer, self._model
        limits = [self._token_limit(key.max_tokens, len(p.input_ids)) for p in chunk]
        padded = tok.pad({"input_ids": [p.input_ids for p in chunk]}, padding=True, return_tensors="pt")
        input_ids = padded["input_ids"].to(model.device)
        attention_mask = padded["attention_mask"].to(model.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(limits),
            "do_sample": key.do_sample,
            "pad_token_id": tok.pad_token_id,
        }
        if key.do_sample:
            kwargs.update(temperature=key.temperature, top_p=key.top_p, top_k=0)
        if key.stop:
            kwargs.update(stop_strings=list(key.stop), tokenizer=tok)
        start = time.perf_counter()
        seeded: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if key.seed is not None:  # fork so the caller's global RNG state is left as it was
            seeded = torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else [])
        with self._map_errors("generate", chunk[0].request.request_id), seeded, torch.inference_mode():
            if key.seed is not None:
                torch.manual_seed(key.seed)
            output = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        new_ids = output[:, input_ids.shape[1] :].tolist()
        results = [
            self._finish(p, ids[:limit], key.stop)
            for p, ids, limit in zip(chunk, new_ids, limits, strict=True)
        ]
        elapsed = time.perf_counter() - start
        n_tokens = sum(r.generated_tokens for r in results)
        logger.info(
            "transformers: %s batch of %d done in %.2fs (%d tokens, %.1f tok/s)",
            self.config.name,
            len(chunk),
            elapsed,
            n_tokens,
            n_tokens / elapsed if elapsed > 0 else 0.0,
        )
        return results

    def _token_limit(self, max_tokens: int, prompt_len: int) -> int:
        if self._max_context is None:
            return max_tokens
        return max(1, min(max_tokens, self._max_context - prompt_len))

    def _finish(self, prepared: _Prepared, ids: list[int], stop: tuple[str, ...]) -> GenResult:
        """Cut one row's new tokens at EOS, then at the first stop string, and count what was kept."""
        finish = "length"
        count = len(ids)
        for pos, token in enumerate(ids):
            if token in self._eos_ids:
                ids, count, finish = ids[:pos], pos + 1, "stop"
                break
        text = self._decode(ids)
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
            count = self._tokens_to_stop(ids, stop)
        return GenResult(
            request_id=prepared.request.request_id,
            text=text,
            prompt_tokens=len(prepared.input_ids),
            generated_tokens=count,
            finish_reason=finish,
        )

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def _tokens_to_stop(self, ids: list[int], stop: tuple[str, ...]) -> int:
        """Smallest prefix of ``ids`` whose text contains a stop string (binary search: O(log n) decodes)."""
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            text = self._decode(ids[:mid])
            if any(s in text for s in stop):
                hi = mid
            else:
                lo = mid + 1
        return lo
