"""The streamed expert stage: journal each answered batch, aggregate each instance once its experts answered.

The consumer side of the Ray backend, free of Ray itself: it reads any stream of
:class:`~orchestrator.ray.slots.StreamItem` s that also takes ``submit(expert, requests, stage)`` and
``close()`` (a :class:`~orchestrator.ray.backend.StageStream` in production).

- Pairs already in the run store are read back and never sent (resume, cache).
- Each batch is journaled in one transaction as it arrives.
- When the last expert of an instance answers, the instance is decided at once: consensus or a vote
  right here, or a request to the LLM aggregator submitted into the same stream. The stream is closed
  once every instance is complete, so it ends after the last aggregator answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from batching.journal.store import GenerationRow
from common.generation import GenRequest, GenResult
from common.logs import log_context
from common.records import Instance, RoutingDecision
from orchestrator.policies import ProfilingData
from orchestrator.ray.slots import StageSpec, StreamItem

if TYPE_CHECKING:
    from orchestrator.live import DecidedAnswer, LiveRun, Pair

logger = logging.getLogger(__name__)


class StreamingStage:
    """One streamed expert stage (plus aggregation) of a live run with a backend.

    Args:
        run: the live run (its backend, journal, engines and aggregation rules).
        instances: the questions.
        decisions: their routing decisions, aligned with ``instances``.
        profiling: profiling data for weighted votes (None without profiles).
        aggregate: also aggregate (``symoe run``); False only answers (``symoe profile``).
    """

    def __init__(
        self,
        run: LiveRun,
        instances: Sequence[Instance],
        decisions: Sequence[RoutingDecision],
        profiling: ProfilingData | None,
        *,
        aggregate: bool = True,
    ) -> None:
        from orchestrator.live import global_accuracy

        self.live = run
        self.aggregate = aggregate
        self.inst_of = {i.id: i for i in instances}
        self.dec_of = {d.instance_id: d for d in decisions}
        self.acc = global_accuracy(profiling, run.experts)
        self.requests = run.expert_requests(instances, decisions)
        self.results, self.keys = run.journaled(self.requests)
        self.finals: dict[str, DecidedAnswer] = {}
        self.pending: dict[str, tuple[str, str]] = {}  # aggregator request id -> (instance id, hash)
        self.waiting = {
            d.instance_id: {e for e in d.experts if (d.instance_id, e) not in self.results} for d in decisions
        }
        self.groups: dict[str, list[GenRequest]] = {}
        self.by_rid: dict[str, Pair] = {}
        for pair, req in self.requests.items():
            if pair not in self.results:
                self.groups.setdefault(pair[1], []).append(req)
                self.by_rid[req.request_id] = pair
        self.totals = {e: len(r) for e, r in self.groups.items()}
        self.done: dict[str, int] = {}  # "stage:expert" -> answered
        self.submitted = 0  # aggregator requests submitted so far
        self.stream: Any = None  # the backend's stage stream, once started

    def run(self) -> tuple[dict[Pair, GenResult], dict[str, DecidedAnswer]]:
        """Stream the stage to its end; return every pair's result and every instance's final answer."""
        first, last, _ = self.live.load_order()
        spec = StageSpec("experts", self.groups, self.live.backend.batch_size, first, last)
        self.stream = self.live.backend.stream(spec)
        self._ready([iid for iid, w in self.waiting.items() if not w])
        self._maybe_close()
        for item in self.stream:
            if item.failure is None:  # failures are journaled by the backend; the batch is retried
                with log_context(expert=item.expert):
                    self._take(item)
            self._maybe_close()
        missing = [iid for iid in self.inst_of if self.aggregate and iid not in self.finals]
        assert not missing, f"stream ended before instances {missing[:5]} were aggregated"
        return self.results, self.finals

    def _maybe_close(self) -> None:
        if not any(self.waiting.values()):
            self.stream.close()

    def _take(self, item: StreamItem) -> None:
        journal = self.live.journal
        if item.new_loads:
            journal.store.event(journal.run_id, item.stage, item.expert, "load", item.new_load_seconds)
        share = item.seconds / max(len(item.results), 1)
        rows, now_ready = [], []
        for res in item.results:
            if item.stage == "aggregate":
                iid, h = self.pending.pop(res.request_id)
                rows.append(GenerationRow(h, "aggregate", item.expert, iid, res, share))
                self.finals[iid] = self.live.llm_final(self.inst_of[iid], self.dec_of[iid], self.results, res)
                continue
            pair = self.by_rid[res.request_id]
            self.results[pair] = res
            rows.append(GenerationRow(self.keys[pair], item.stage, pair[1], pair[0], res, share))
            self.waiting[pair[0]].discard(pair[1])
            if not self.waiting[pair[0]]:
                now_ready.append(pair[0])
        journal.record(rows)
        if self.live.progress is not None:
            key = f"{item.stage}:{item.expert}"
            self.done[key] = self.done.get(key, 0) + len(item.results)
            total = self.totals.get(item.expert, 0) if item.stage != "aggregate" else self.submitted
            self.live.progress(item.stage, item.expert, self.done[key], total)
        self._ready(now_ready)

    def _ready(self, iids: list[str]) -> None:
        """Decide complete instances: votes now, LLM aggregation submitted (unless already journaled)."""
        if not self.aggregate or not iids:
            return
        start = time.perf_counter()
        run, agg = self.live, self.live.pool.aggregator
        llm: list[GenRequest] = []
        for iid in iids:
            final, req = run.decide(self.inst_of[iid], self.dec_of[iid], self.results, self.acc)
            if final is not None:
                self.finals[iid] = final
            elif req is not None:
                llm.append(req)
        if llm and agg is not None:
            hashes = [run.engines[agg].key(r) for r in llm]
            known = run.journal.lookup(hashes)
            todo = []
            for r, h in zip(llm, hashes, strict=True):
                iid = r.instance_id or ""
                if h in known:
                    self.finals[iid] = run.llm_final(
                        self.inst_of[iid], self.dec_of[iid], self.results, known[h]
                    )
                else:
                    self.pending[r.request_id] = (iid, h)
                    todo.append(r)
            if todo:
                self.stream.submit(agg, todo, "aggregate")
                self.submitted += len(todo)
        run.stage_seconds["aggregate"] = run.stage_seconds.get("aggregate", 0.0) + time.perf_counter() - start
