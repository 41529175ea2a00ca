"""A run's journal: the current stage, lookups with reuse counts, and the engine wrapper that journals.

:class:`JournalEngine` wraps any engine: prompts already in the run store are answered from it, the
others are generated and journaled, one transaction per ``generate`` call.

Example::

    journal = Journal(RunStore("runs.sqlite"), run_id, stage="experts")
    engine = JournalEngine(build_engine(expert_cfg), journal)
    engine.generate(requests)      # generates and journals
    engine.generate(requests)      # answered from the store; journal.reused counts them
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from batching.engines.base import Engine, EngineCounters
from batching.journal.store import GenerationRow, RunStore, model_key, prompt_hash
from common.generation import GenRequest, GenResult
from common.logs import log_context


@dataclass(kw_only=True)
class Journal:
    """A run's handle on the store: the current stage, lookups and per-invocation counts.

    Attributes:
        stage: the stage new rows are journaled under (the live run sets it).
        cache: also reuse identical generations of other runs.
        computed: generations sent to engines by this invocation.
        reused: generations served from the store (earlier invocations of this run, or the cache).
        on_record: called per journaled batch and expert with (stage, expert, generated tokens,
            generation seconds), e.g. for tokens/s progress bars.
    """

    store: RunStore
    run_id: str
    cache: bool = False
    stage: str = "setup"
    computed: int = 0
    reused: int = 0
    on_record: Callable[[str, str, int, float], None] | None = None

    def lookup(self, hashes: Sequence[str]) -> dict[str, GenResult]:
        """Journaled results of ``hashes`` (this run's, plus other runs' in cache mode), counted as reused."""
        found = self.store.lookup(self.run_id, hashes, any_run=self.cache)
        self.reused += len(found)
        return found

    def record(self, rows: Sequence[GenerationRow]) -> None:
        """Journal one batch of computed generations in one transaction."""
        if not rows:
            return
        self.store.record(self.run_id, rows)
        self.computed += len(rows)
        if self.on_record is not None:
            per: dict[tuple[str, str], list[float]] = {}
            for r in rows:
                acc = per.setdefault((r.stage, r.expert), [0, 0.0])
                acc[0] += r.result.generated_tokens
                acc[1] += r.seconds
            for (stage, expert), (tokens, seconds) in per.items():
                self.on_record(stage, expert, int(tokens), seconds)

    def event(self, expert: str, kind: str, seconds: float, detail: str = "") -> None:
        """Journal a model load or a failure under the current stage."""
        self.store.event(self.run_id, self.stage, expert, kind, seconds, detail)


class JournalEngine(Engine):
    """Wraps an engine so that ``generate`` serves known prompts from the store and journals new ones.

    Loading, unloading and counters are the wrapped engine's (counters count computed requests only).
    Duplicate prompts within one batch are generated once. Each ``generate`` call journals its batch in
    one transaction, after the wrapped engine returns.

    Args:
        inner: the engine that generates.
        journal: the run's journal.
        before_compute: called before the inner engine generates (never when every prompt of the batch
            is already journaled), e.g. to acquire the model through a residency manager.
    """

    def __init__(
        self, inner: Engine, journal: Journal, *, before_compute: Callable[[], None] | None = None
    ) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.journal = journal
        self.before_compute = before_compute
        self.kind = inner.kind  # type: ignore[misc]
        self._model = model_key(inner.config)
        self._by_instance = getattr(inner.config, "engine", None) == "replay"

    @property
    def counters(self) -> EngineCounters:
        return self.inner.counters

    @property
    def is_loaded(self) -> bool:
        return self.inner.is_loaded

    def key(self, request: GenRequest) -> str:
        """The prompt hash of ``request`` on this model."""
        return prompt_hash(self._model, request, keyed_by_instance=self._by_instance)

    def load(self) -> None:
        before = self.inner.counters.load_seconds
        loads = self.inner.counters.loads
        with log_context(expert=self.name):
            self.inner.load()
        if self.inner.counters.loads > loads:
            self.journal.event(self.name, "load", self.inner.counters.load_seconds - before)

    def unload(self) -> None:
        self.inner.unload()

    def close(self) -> None:
        self.inner.close()

    def generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:
        keys = [self.key(r) for r in batch]
        found = self.journal.lookup(keys)
        todo: dict[str, GenRequest] = {}
        for k, r in zip(keys, batch, strict=True):
            if k not in found:
                todo.setdefault(k, r)
        if todo:
            if self.before_compute is not None:  # e.g. make the model resident; skipped when all is known
                self.before_compute()
            c = self.inner.counters
            loads, load_s, gen_s = c.loads, c.load_seconds, c.generation_seconds
            with log_context(expert=self.name):
                results = self.inner.generate(list(todo.values()))
            if c.loads > loads:
                self.journal.event(self.name, "load", c.load_seconds - load_s)
            share = (c.generation_seconds - gen_s) / len(results)
            rows = [
                GenerationRow(
                    prompt_hash=k,
                    stage=self.journal.stage,
                    expert=self.name,
                    instance_id=r.instance_id,
                    result=res,
                    seconds=share,
                )
                for (k, r), res in zip(todo.items(), results, strict=True)
            ]
            self.journal.record(rows)
            found.update((row.prompt_hash, row.result) for row in rows)
        return [with_request_id(found[k], r.request_id) for k, r in zip(keys, batch, strict=True)]

    def _load(self) -> None:  # pragma: no cover - load() is delegated
        raise NotImplementedError

    def _generate(self, batch: Sequence[GenRequest]) -> list[GenResult]:  # pragma: no cover
        raise NotImplementedError

    def _unload(self) -> None:  # pragma: no cover
        raise NotImplementedError


def with_request_id(result: GenResult, request_id: str) -> GenResult:
    """``result`` answering ``request_id`` (a stored result may come from another request id)."""
    return result if result.request_id == request_id else dataclasses.replace(result, request_id=request_id)
