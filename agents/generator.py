"""Expert generators: non-LLM models (speech, music, sound) behind a batch-in/batch-out interface.

A generator has the lifecycle of an :class:`~batching.engines.base.Engine`, defined once in
:class:`~batching.lifecycle.ModelLifecycle`: it loads once, generates a whole batch of tasks, unloads,
and reports the same counters under the same names (``loads``, ``load_seconds``, ``requests``,
``generation_seconds``, ...). A generator's config gives a prior quality per task kind it serves, which
:mod:`agents.profiles` refines from supervisor verdicts.

Example::

    gen = generator_registry.get("espeak_ng")(config)
    clips = gen.generate(tasks)        # loads on first use
    gen.unload()
    gen.counters.loads                 # 1
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from batching.lifecycle import LifecycleCounters, ModelLifecycle

T = TypeVar("T")
R = TypeVar("R")


class ExpertGenerator(ModelLifecycle[T, R, LifecycleCounters]):
    """A generator model. Subclasses implement ``_load`` and ``_generate`` (``_unload`` releases nothing
    by default).

    Args:
        config: the generator's config (must have ``name``).
    """

    kind: ClassVar[str] = "generator"

    def __init__(self, config: Any) -> None:
        super().__init__(config, counters=LifecycleCounters())

    def _unload(self) -> None:  # most generators hold nothing to release
        """Release what ``_load`` took (nothing by default)."""
