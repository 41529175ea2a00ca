"""The order of ``orchestrator``'s first-level children (subpackages and top-level modules), lowest first.

A child imports only children of *lower* groups, never one of its own group or a higher one; every
import counts, also a lazy one inside a function (only ``if TYPE_CHECKING:`` imports are ignored), so
the children form no cycle. The import-graph test reads :data:`ORCHESTRATOR_LAYERS` and
``docs/architecture.md`` draws it.

Why this order: ``math_values`` (the shortcut math-verify's comparisons take) sits under ``answers``;
answers, prompts, folds and datasets are leaves; ``ray`` (controller, workers, their
slots) and ``retrieval`` (the knowledge store) import only leaves, so they sit low, where the pipeline's
streaming stage and ``rag`` read them. The vote layer (``voting``) sits below both the recruitment
policies and the registered aggregators, which read it (aggregators also read the policies' profiling
data and accuracy models). A method composes a registered policy and a registered aggregator and checks
its keys against both registries, so it sits above both. Retrieval-gated routing (``rag``) decides with
a method's decider; a pool config holds a method and a retrieval block; the pipeline runs a pool's
session; runs, the bench, the API, the service and the CLI drive the pipeline.
"""

from __future__ import annotations

ORCHESTRATOR_LAYERS: tuple[tuple[str, ...], ...] = (
    ("math_values",),
    ("answers", "datasets", "folds", "layers", "local_ray", "prompts"),
    ("ray", "retrieval", "voting"),
    ("policies",),
    ("aggregation", "profiling"),
    ("method",),
    ("rag",),
    ("pool",),
    ("autoselect",),
    ("pipeline",),
    ("runs",),
    ("api", "bench"),
    ("service",),
    ("cli",),
    ("docs_gen",),
)
"""Groups of ``orchestrator.<child>`` names, lowest first."""


def layer_of(child: str) -> int:
    """The group index of ``orchestrator.<child>`` (0 = lowest).

    Raises:
        KeyError: ``child`` is in no group (a new subpackage or module must be placed here).
    """
    for i, group in enumerate(ORCHESTRATOR_LAYERS):
        if child in group:
            return i
    raise KeyError(
        f"orchestrator.{child} is in no group of ORCHESTRATOR_LAYERS; add it to orchestrator/layers.py"
    )
