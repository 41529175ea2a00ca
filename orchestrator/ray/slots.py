"""Expert groups to GPU slots: the Ray controller's config, stage types, cost estimates and LPT assignment.

Plain Python (no Ray), so the scheduling rules and the stream consumer are tested without a cluster. A
*slot* is one GPU (one placement-group bundle); a *group* is one expert's prompts in a stage. Groups on
one slot run one after another; slots run in parallel, so the stage takes as long as the busiest slot
(the makespan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from common.generation import GenRequest, GenResult

MEMORY_RESOURCE = "symoe_gpu_mem_gib"
"""Custom Ray resource: GiB of GPU memory a node offers (summed over its GPUs); workers ask for their
model's footprint of it, so only models that fit together are resident on a GPU at once."""


class ControllerConfig(BaseModel):
    """How the Ray backend runs the expert stage.

    Attach to a cluster with ``address`` (or ``RAY_ADDRESS``); otherwise an embedded local Ray starts
    with ``num_cpus``/``num_gpus``/``gpu_mem_gib`` as its resources.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | None = Field(default=None, description="Ray cluster address; None starts a local Ray.")
    num_cpus: int | None = Field(default=None, ge=1, description="Local Ray only: CPUs (default all).")
    num_gpus: int | None = Field(default=None, ge=0, description="Local Ray only: GPUs (default detected).")
    gpu_mem_gib: float | None = Field(
        default=None,
        gt=0,
        description="GPU memory per GPU. Local Ray declares it as the memory resource; on a cluster it is "
        "read from the nodes' resources when they declare it.",
    )
    max_slots: int | None = Field(default=None, ge=1, description="Cap on parallel slots (default: GPUs).")
    max_restarts: int = Field(default=2, ge=0, description="Ray restarts of a dead expert worker.")
    max_attempts: int = Field(
        default=3, ge=1, description="Tries per batch before the run fails naming the expert and cause."
    )
    restart_timeout_s: float = Field(
        default=600.0, gt=0, description="How long a restarting worker may take (it reloads its model)."
    )
    shutdown_timeout_s: float = Field(
        default=60.0, gt=0, description="How long a worker may take to release its model before it is killed."
    )
    max_inflight_batches: int = Field(
        default=2, ge=1, description="Batches queued on one worker: one running, one ready, no more."
    )
    batch_size: int | None = Field(default=None, ge=1, description="Requests per batch (default: pool's).")
    load_gib_per_s: float = Field(default=2.0, gt=0, description="Cost model: weight loading speed.")
    decode_tokens_per_s: float = Field(
        default=2000.0, gt=0, description="Cost model: batched decode throughput of one GPU."
    )
    expected_token_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Cost model: expected share of max_tokens a reply uses."
    )
    namespace: str = "symbolic-moe"


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSpec:
    """A stage for the controller: each expert's requests, which expert runs first/last on its slot."""

    stage: str
    groups: dict[str, list[GenRequest]]
    batch_size: int
    first: str | None = None
    last: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamItem:
    """One batch answered by a worker, or one worker failure (``failure`` set, ``results`` empty)."""

    stage: str
    expert: str
    results: tuple[GenResult, ...] = ()
    seconds: float = 0.0
    new_loads: int = 0
    new_load_seconds: float = 0.0
    failure: str | None = None
    node_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupCost:
    """What one group costs on a slot.

    Attributes:
        expert: the expert (one model).
        prompts: prompts in the group.
        max_tokens: the expert's ``sampling.max_tokens``.
        footprint_gib: the model's memory; its load time is ``footprint / load_gib_per_s``.
    """

    expert: str
    prompts: int
    max_tokens: int
    footprint_gib: float

    def seconds(self, cfg: ControllerConfig) -> float:
        """Estimated load time plus generation time."""
        tokens = self.prompts * self.max_tokens * cfg.expected_token_fraction
        return self.footprint_gib / cfg.load_gib_per_s + tokens / cfg.decode_tokens_per_s


def assign_groups(
    costs: Sequence[GroupCost],
    n_slots: int,
    cfg: ControllerConfig,
    *,
    pinned: Mapping[str, int] | None = None,
    first: str | None = None,
    last: str | None = None,
) -> list[list[str]]:
    """Assign groups to slots with greedy longest-processing-time (LPT) and order each slot's queue.

    LPT places groups, longest first, on the slot that is least loaded so far; its makespan is within
    4/3 of the optimum. Pinned groups (models already resident on a slot) are placed on their slot first.
    In each slot, ``first`` (the annotator, still resident) runs first and ``last`` (the aggregator, which
    stays resident for aggregation) runs last; the rest run longest first.

    Args:
        costs: one entry per group.
        n_slots: parallel slots (GPUs), >= 1.
        cfg: the cost model.
        pinned: expert -> slot for groups whose model is resident there.
        first: expert to run first on its slot.
        last: expert to run last on its slot.

    Returns:
        The experts of each slot, in run order (``n_slots`` lists, some possibly empty).
    """
    n_slots = max(1, n_slots)
    load = [0.0] * n_slots
    slots: list[list[GroupCost]] = [[] for _ in range(n_slots)]
    pinned = {e: s % n_slots for e, s in (pinned or {}).items()}
    for g in costs:
        if g.expert in pinned:
            slots[pinned[g.expert]].append(g)
            load[pinned[g.expert]] += g.seconds(cfg)
    for g in sorted((g for g in costs if g.expert not in pinned), key=lambda g: -g.seconds(cfg)):
        s = min(range(n_slots), key=lambda i: (load[i], i))
        slots[s].append(g)
        load[s] += g.seconds(cfg)

    def rank(g: GroupCost) -> tuple[int, float]:
        return (0 if g.expert == first else 2 if g.expert == last else 1, -g.seconds(cfg))

    return [[g.expert for g in sorted(groups, key=rank)] for groups in slots]


def makespan(assignment: Sequence[Sequence[str]], costs: Sequence[GroupCost], cfg: ControllerConfig) -> float:
    """Estimated seconds of the busiest slot."""
    by_name = {g.expert: g.seconds(cfg) for g in costs}
    return max((sum(by_name[e] for e in slot) for slot in assignment), default=0.0)


def gpu_fraction(footprint_gib: float | None, slot_mem_gib: float | None) -> float:
    """The share of a slot's accelerator a worker asks Ray for: its memory share, at most 1.

    Unknown footprint or slot memory means the whole slot. Rounded down to Ray's 4-decimal resource
    precision (so fractions of models that fit together never sum above 1), and at least 0.0001.
    """
    if footprint_gib is None or not slot_mem_gib:
        return 1.0
    return max(0.0001, min(1.0, int(footprint_gib / slot_mem_gib * 10_000) / 10_000))
