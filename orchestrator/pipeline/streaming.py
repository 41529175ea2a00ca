"""The streamed expert stage: journal each answered batch, decide each question once its experts answered.

The consumer side of the Ray backend, free of Ray itself: it reads any stream of
:class:`~orchestrator.ray.slots.StreamItem` s that also takes ``submit(expert, requests, stage)`` and
``close()`` (a :class:`~orchestrator.ray.backend.StageStream` in production). Questions are decided by
the same :class:`~orchestrator.aggregation.decide.Decider` as everywhere else.

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

from batching.journal.store import GenerationRow
from common.generation import GenRequest
from common.logs import log_context
from common.records import RoutingDecision
from orchestrator.aggregation.decide import Question
from orchestrator.pipeline.aggregate import aggregator_request, decide_from_reply
from orchestrator.pipeline.job import Job
from orchestrator.pipeline.requests import journaled, load_order, requests_for
from orchestrator.ray.slots import StageSpec, StreamItem

logger = logging.getLogger(__name__)


class StreamingStage:
    """One streamed expert stage (plus aggregation) of a job whose session has a Ray backend.

    Args:
        job: the job (its session's backend, its journal, engines and method).
        aggregate: also decide questions (``symoe run``); False only answers (``symoe profile``).
        decisions: stream these questions only (a second pass); all of the job's when None.
    """

    def __init__(
        self, job: Job, *, aggregate: bool = True, decisions: Sequence[RoutingDecision] | None = None
    ) -> None:
        self.job = job
        self.aggregate = aggregate
        chosen = job.decisions if decisions is None else list(decisions)
        self.dec_of = {d.instance_id: d for d in chosen}
        self.row_of = {d.instance_id: i for i, d in enumerate(job.decisions)}
        decider = job.fitted.decider
        self.acc = decider.local_accuracy(job.queries())
        self.requests = requests_for(job, chosen)
        known, self.keys = journaled(job, self.requests)
        job.results.update(known)
        self.questions: dict[str, Question] = {}  # instance id -> its question, while the aggregator answers
        self.pending: dict[str, tuple[str, str]] = {}  # aggregator request id -> (instance id, hash)
        self.waiting = {
            d.instance_id: {e for e in d.experts if (d.instance_id, e) not in job.results} for d in chosen
        }
        self.groups: dict[str, list[GenRequest]] = {}
        self.by_rid: dict[str, tuple[str, str]] = {}
        for pair, req in self.requests.items():
            if pair not in job.results:
                self.groups.setdefault(pair[1], []).append(req)
                self.by_rid[req.request_id] = pair
        self.totals = {e: len(r) for e, r in self.groups.items()}
        self.done: dict[str, int] = {}  # "stage:expert" -> answered
        self.submitted = 0  # aggregator requests submitted so far
        self.stream: object = None  # the backend's stage stream, once started

    def run(self) -> None:
        """Stream the stage to its end: every pair answered, every question decided (with ``aggregate``)."""
        job = self.job
        first, last, _ = load_order(job)
        backend = job.session.backend
        spec = StageSpec(
            stage=job.journal.stage, groups=self.groups, batch_size=backend.batch_size, first=first, last=last
        )
        self.stream = backend.stream(spec)
        self._ready([iid for iid, w in self.waiting.items() if not w])
        self._maybe_close()
        for item in self.stream:  # type: ignore[attr-defined]
            if item.failure is None:  # failures are journaled by the backend; the batch is retried
                with log_context(expert=item.expert):
                    self._take(item)
            self._maybe_close()
        missing = [iid for iid in self.dec_of if self.aggregate and iid not in job.decided]
        assert not missing, f"stream ended before instances {missing[:5]} were aggregated"

    def _maybe_close(self) -> None:
        if not any(self.waiting.values()):
            self.stream.close()  # type: ignore[attr-defined]

    def _take(self, item: StreamItem) -> None:
        job = self.job
        journal = job.journal
        if item.new_loads:
            journal.store.event(journal.run_id, item.stage, item.expert, "load", item.new_load_seconds)
        share = item.seconds / max(len(item.results), 1)
        rows, now_ready = [], []
        for res in item.results:
            if item.stage == "aggregate":
                iid, h = self.pending.pop(res.request_id)
                rows.append(
                    GenerationRow(
                        prompt_hash=h,
                        stage="aggregate",
                        expert=item.expert,
                        instance_id=iid,
                        result=res,
                        seconds=share,
                    )
                )
                job.decided[iid] = decide_from_reply(job, job.by_id[iid], self.questions.pop(iid), res.text)
                continue
            pair = self.by_rid[res.request_id]
            job.results[pair] = res
            rows.append(
                GenerationRow(
                    prompt_hash=self.keys[pair],
                    stage=item.stage,
                    expert=pair[1],
                    instance_id=pair[0],
                    result=res,
                    seconds=share,
                )
            )
            self.waiting[pair[0]].discard(pair[1])
            if not self.waiting[pair[0]]:
                now_ready.append(pair[0])
        journal.record(rows)
        if job.progress is not None:
            key = f"{item.stage}:{item.expert}"
            self.done[key] = self.done.get(key, 0) + len(item.results)
            total = self.totals.get(item.expert, 0) if item.stage != "aggregate" else self.submitted
            job.progress(item.stage, item.expert, self.done[key], total)
        self._ready(now_ready)

    def _ready(self, iids: list[str]) -> None:
        """Decide complete questions: votes now, LLM aggregation submitted (unless already journaled)."""
        if not self.aggregate or not iids:
            return
        start = time.perf_counter()
        job, agg = self.job, self.job.session.aggregator
        llm: list[GenRequest] = []
        for iid in iids:
            d = self.dec_of[iid]
            q = job.question(d, self.acc, self.row_of[iid])
            out = job.decider(iid).decide(q)
            if out is not None:
                job.decided[iid] = out
            else:
                self.questions[iid] = q
                llm.append(aggregator_request(job, job.by_id[iid], d))
        if llm and agg is not None:
            hashes = [job.engines[agg].key(r) for r in llm]
            known = job.journal.lookup(hashes)
            todo = []
            for r, h in zip(llm, hashes, strict=True):
                iid = r.instance_id or ""
                if h in known:
                    job.decided[iid] = decide_from_reply(
                        job, job.by_id[iid], self.questions.pop(iid), known[h].text
                    )
                else:
                    self.pending[r.request_id] = (iid, h)
                    todo.append(r)
            if todo:
                self.stream.submit(agg, todo, "aggregate")  # type: ignore[attr-defined]
                self.submitted += len(todo)
        job.stage_seconds["aggregate"] = job.stage_seconds.get("aggregate", 0.0) + time.perf_counter() - start
