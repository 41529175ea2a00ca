"""The benchmark config: data, expert pool, methods and seeds, read from YAML (``configs/bench/*.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from batching.config import ExpertConfig
from common.config_file import beside, read_mapping, validate_model
from common.resources import resolve_config
from orchestrator.bench.peer_routers import DEFAULT_ROUTERS as PEER_ROUTERS
from orchestrator.method import MethodConfig
from orchestrator.rag.config import RetrievalConfig

BENCH_CONFIG_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordedSplitsData(_Strict):
    """The paper's profiling/test split files, matched onto recorded questions by question text."""

    kind: Literal["recorded_splits"] = Field(default="recorded_splits", description="Selects this protocol.")
    task: str = Field(default="MMLU_Pro", description="Split file prefix: <task>_train/_test.json.gz.")
    splits_dir: str = Field(
        default="symbolic_moe_splits", description="Folder of split files under the data dir."
    )
    profile_split: str = Field(default="train", description="Split file suffix of the profiling questions.")
    test_split: str = Field(default="test", description="Split file suffix of the test questions.")
    match: Literal["text", "text_options"] = Field(
        default="text",
        description="text: the reference protocol (last recorded question with that text wins); "
        "text_options: also compare options to pick among same-text questions.",
    )


class RandomSplitData(_Strict):
    """A seeded random profile/test split of every recorded question."""

    kind: Literal["random_split"] = Field(default="random_split", description="Selects this protocol.")
    profile_fraction: float = Field(default=0.2, gt=0, lt=1, description="Share of questions that profile.")
    seed: int = Field(default=0, description="Seed of the split.")


class QuestionFilesData(_Strict):
    """Profiling and test questions from two files in the ``load_questions`` format (JSONL, JSON, Parquet).

    Relative paths resolve against the bench config's folder. No recordings are needed: the pool's
    engines generate (e.g. the skill zoo on transformers or vLLM).
    """

    kind: Literal["question_files"] = Field(default="question_files", description="Selects this protocol.")
    profile: str = Field(description="Profiling (validation) questions with gold answers.")
    test: str = Field(description="Test questions with gold answers.")


class CrossValidationData(_Strict):
    """Every recorded question, evaluated by repeated stratified k-fold cross-validation.

    For sets without a profiling split (GPQA Diamond, MATH-500): each repetition (seed) deals the questions
    onto ``folds`` folds stratified by ``stratify``; every method is fitted (profiles, votes, tuning) on
    the other folds only and answers the held-out fold, so each seed answers every question once.
    Reported: mean and std over seeds, and paired tests on per-question correctness averaged over seeds.
    """

    kind: Literal["cross_validation"] = Field(
        default="cross_validation", description="Selects this protocol."
    )
    folds: int = Field(default=5, ge=2, description="Folds per repetition.")
    seeds: int = Field(default=10, ge=1, description="Repetitions, with fold seeds 0..seeds-1.")
    stratify: str = Field(
        default="category",
        description="The field folds are stratified by: `category` or a metadata field (high_level_domain).",
    )


DataConfig = Annotated[
    RecordedSplitsData | RandomSplitData | QuestionFilesData | CrossValidationData,
    Field(discriminator="kind"),
]


class CostCurveConfig(_Strict):
    """Trace one budgeted method's accuracy-cost curve by sweeping its ``budget`` (fitted once per split)."""

    method: str = Field(description="A method of the bench whose policy has a cost budget (e.g. cascade).")
    points: int = Field(
        default=30,
        ge=2,
        description="Budgets: this many log-spaced from the cheapest expert's cost to all experts' cost, "
        "plus every single expert's cost.",
    )


class PeersConfig(_Strict):
    """Published routers (LLMRouter, RouteLLM) as baselines, run from their own packages in the
    ``peers`` virtualenv (:mod:`orchestrator.bench.peer_routers`); skipped with a note where absent."""

    routers: list[str] = Field(
        default_factory=lambda: list(PEER_ROUTERS), description="Which peers (all by default)."
    )
    python: str | None = Field(
        default=None,
        description="The peers virtualenv's python (`symoe bench --peers-python`); this one when unset.",
    )
    seeds: int = Field(
        default=1,
        ge=1,
        description="Cross-validation repetitions the peers run (each trains every router once per "
        "fold; seed 0 holds every question out once). A fixed split runs once.",
    )


class SkillConfig(_Strict):
    """How questions get skills without an LLM: the nearest names of a skill vocabulary."""

    vocabulary: str | None = Field(default=None, description="YAML skill list; the packaged one if unset.")
    top_n: int = Field(default=3, ge=1, description="Skills per question.")


class BenchConfig(_Strict):
    """A whole benchmark run."""

    version: int = Field(default=BENCH_CONFIG_VERSION, description="The config format's version.")
    name: str = Field(description="The bench's name in tables, reports and output folders.")
    task: str = Field(default="mmlu_pro", description="The task's name in reports.")
    recordings: str = Field(
        default="mmlu_pro_recordings", description="Recordings folder under the data dir."
    )
    data: DataConfig = Field(
        default=RecordedSplitsData(), description="Which questions profile and test: the protocol (`kind`)."
    )
    pool: list[ExpertConfig] = Field(
        default_factory=list, description="The experts; or leave empty and name a `pool_config`."
    )
    pool_config: str | None = Field(
        default=None,
        description="A pool YAML (configs/pools/) whose experts are the bench's pool; relative to this file.",
    )
    answer_source: Literal["recorded", "extracted"] = Field(
        default="recorded",
        description="recorded: the recordings' `pred` (the reference protocol); extracted: our extractor.",
    )
    skills: SkillConfig = Field(default=SkillConfig(), description="Skills from the embedding annotator.")
    seed: int = Field(default=0, description="Seed of the random baselines and the methods.")
    random_k: int = Field(default=3, ge=1, description="k of the random-k baseline.")
    top_k_majority: int = Field(default=3, ge=1, description="k of the top-k global majority baseline.")
    methods: list[MethodConfig] = Field(
        default_factory=list, description="The methods compared with the baselines."
    )
    best_policy: str | None = Field(default=None, description="The method reported as our best policy.")
    limit: int | None = Field(default=None, ge=1, description="Use only the first N test questions.")
    sample: int | None = Field(
        default=None, ge=1, description="Use N test questions spread evenly over the test split."
    )
    embedding_cache_dir: str | None = Field(default=None, description="Default: $SYMOE_HOME/embeddings")
    verdict_cache_dir: str | None = Field(
        default=None,
        description="math-verify verdicts of free-form answers kept across runs (answer strings only); "
        "default $SYMOE_HOME/math-verify.",
    )
    cost_curve: CostCurveConfig | None = Field(default=None, description="The accuracy-cost curve to trace.")
    protocol_note: str = Field(default="", description="How the methods were chosen (printed in the report).")
    peers: PeersConfig | None = Field(
        default=None, description="Published routers as baselines (one call per question each)."
    )
    retrieval: RetrievalConfig | None = Field(
        default=None,
        description="The knowledge store and gate settings of methods with `retrieval:` (the pool "
        "config's block when unset). Every expert then answers every question closed- and open-book once.",
    )

    @model_validator(mode="after")
    def _check(self) -> BenchConfig:
        if self.version != BENCH_CONFIG_VERSION:
            raise ValueError(f"bench config version {self.version} != supported {BENCH_CONFIG_VERSION}")
        if not self.pool:
            raise ValueError("the bench has no experts: list them under `pool` or name a `pool_config`")
        names = [e.name for e in self.pool]
        if len(set(names)) != len(names):
            raise ValueError(f"pool has duplicate expert names: {names}")
        methods = [m.name for m in self.methods]
        if len(set(methods)) != len(methods):
            raise ValueError(f"duplicate method names: {methods}")
        if self.best_policy is not None and self.best_policy not in methods:
            raise ValueError(f"best_policy {self.best_policy!r} is not one of the methods {methods}")
        rag = [m.name for m in self.methods if m.retrieval is not None]
        if rag and self.retrieval is None:
            raise ValueError(
                f"methods {rag} set `retrieval` but the bench has no knowledge store: add a `retrieval:` "
                "block (store, documents, k) or a `pool_config` that has one"
            )
        if self.cost_curve is not None:
            curve = next((m for m in self.methods if m.name == self.cost_curve.method), None)
            if curve is None or not curve.policy_class.budgeted:
                raise ValueError(
                    f"cost_curve.method {self.cost_curve.method!r} must name a method whose policy has a "
                    f"cost budget (e.g. cascade); methods: {methods}"
                )
        return self

    @property
    def uses_retrieval(self) -> bool:
        """Whether any method says how it retrieves (then experts answer closed- and open-book)."""
        return any(m.retrieval is not None for m in self.methods)


def with_retrieval_mode(cfg: BenchConfig, mode: str) -> BenchConfig:
    """``cfg`` with every method's retrieval mode set to ``mode`` (``symoe bench --retrieval``).

    Raises:
        ConfigError: an unknown mode, or no knowledge store for the methods.
    """
    methods = [{**m.model_dump(), "retrieval": mode} for m in cfg.methods]
    return validate_model({**cfg.model_dump(), "methods": methods}, BenchConfig, f"--retrieval {mode}")


def load_bench_config(path: str | Path) -> BenchConfig:
    """Read and validate a bench YAML file.

    Raises:
        ConfigError: unreadable file or invalid content (the message names the file and the fields).
    """
    p = resolve_config(path)
    raw = read_mapping(p, "bench config")
    data = raw.get("data")
    if isinstance(data, dict) and data.get("kind") == "question_files":
        files = {k: beside(p, data[k]) for k in ("profile", "test") if isinstance(data.get(k), str)}
        raw["data"] = {**data, **files}  # a non-string is left for validation to name
    skills = raw.get("skills")
    if isinstance(skills, dict) and isinstance(skills.get("vocabulary"), str):
        raw["skills"] = {**skills, "vocabulary": beside(p, skills["vocabulary"])}
    retrieval = raw.get("retrieval")
    if isinstance(retrieval, dict) and isinstance(retrieval.get("documents"), list):
        docs = [
            d if not isinstance(d, str) or d.startswith("hf:") else beside(p, d)
            for d in retrieval["documents"]
        ]
        raw["retrieval"] = {**retrieval, "documents": docs}
    if isinstance(raw.get("pool_config"), str):
        from orchestrator.pool import load_pool_config

        raw["pool_config"] = beside(p, raw["pool_config"])
        pool = load_pool_config(raw["pool_config"])
        if not raw.get("pool"):
            raw["pool"] = [e.model_dump() for e in pool.experts]
        if "retrieval" not in raw and (pool.retrieval.documents or pool.retrieval.mode != "never"):
            raw["retrieval"] = pool.retrieval.model_dump()
    return validate_model(raw, BenchConfig, f"bench config {p}")
