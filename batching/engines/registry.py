"""The engine registry: YAML's ``engine:`` value -> Engine class, heavy backends registered lazily."""

from __future__ import annotations

from typing import Any

from batching.engines.base import Engine
from batching.engines.cpu_threads import passive_openmp
from common.registry import Registry

engine_registry: Registry[type[Engine]] = Registry("engine", base_cls=Engine)
engine_registry.register("replay", target="batching.engines.replay:ReplayEngine")
engine_registry.register("transformers", target="batching.engines.hf_engine:TransformersEngine")
engine_registry.register("vllm", target="batching.engines.vllm_engine:VLLMEngine")
engine_registry.register("openai_http", target="batching.engines.openai_http:OpenAIHTTPEngine")


def build_engine(config: Any) -> Engine:
    """Build (but do not load) the engine an expert config names.

    Local engines import torch lazily here; idle OpenMP threads are made to sleep first
    (:func:`~batching.engines.cpu_threads.passive_openmp`), as that only works before torch starts.
    """
    passive_openmp()
    cls = engine_registry.get(config.engine)
    return cls(config)
