"""The configuration reference: every field of every config model, rendered from the pydantic models.

A section names the file or place a group of models is read from and its root models; every model a
root's fields refer to (nested blocks, list items, discriminated unions) is documented after it, once, in
the first section that reaches it. Each model gets a heading with a stable anchor (its class name in lower
case) and a table: field, type (links to nested models), default (as YAML writes it), constraints
(``ge``, ``max_length``...) and the field's description.
"""

from __future__ import annotations

import importlib
import json
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

REQUIRED = "required"
"""The default column's text for a field without a default."""
COMPUTED = object()
"""What :func:`default_value` returns for a default computed from the other fields."""


@dataclass(frozen=True, slots=True)
class ConfigSection:
    """A group of config models: where they are read from, and the root models (``module:Class``)."""

    title: str
    intro: str
    roots: tuple[str, ...]


CONFIG_SECTIONS: tuple[ConfigSection, ...] = (
    ConfigSection(
        "Pools",
        "A pool file (`configs/pools/*.yaml`, `symoe run --pool`, `symoe serve --pool`, "
        "`SymbolicMoE.from_config`): the experts, the method that recruits and aggregates them, and "
        "retrieval. Each expert is one of the engine-specific models below, chosen by its `engine:` key.",
        (
            "orchestrator.pool:PoolConfig",
            "batching.config:ReplayExpertConfig",
            "batching.config:TransformersExpertConfig",
            "batching.config:VLLMExpertConfig",
            "batching.config:OpenAIHTTPExpertConfig",
        ),
    ),
    ConfigSection(
        "Methods and policies",
        "A pool's `method:` block and each entry of a bench config's `methods:`. A method's `options:` "
        "are checked by its policy's options model, listed here under the policy's key.",
        (
            "orchestrator.method:MethodConfig",
            "orchestrator.voting.calibration:VoteConfig",
            "orchestrator.policies.base:PolicyOptions",
            "orchestrator.policies.knn:KNNOptions",
            "orchestrator.policies.adaptive:AdaptiveOptions",
            "orchestrator.policies.paper:PaperOptions",
            "orchestrator.policies.paper:SkillTopKOptions",
            "orchestrator.policies.fallback:FallbackOptions",
            "orchestrator.policies.sequential:SequentialOptions",
            "orchestrator.policies.cascade:CascadeOptions",
            "orchestrator.policies.auto:AutoOptions",
        ),
    ),
    ConfigSection(
        "Retrieval",
        "A pool's or bench config's `retrieval:` block: the mode, the knowledge store (`store:`, also "
        "what `symoe kb --kb` opens) and the retrieval gate; `symoe kb add --backend ray` reads the Ray "
        "Data ingestion settings.",
        (
            "orchestrator.rag.config:RetrievalConfig",
            "orchestrator.retrieval.config:KnowledgeConfig",
            "orchestrator.rag.config:GateConfig",
            "orchestrator.retrieval.ray_ingest:RayIngestConfig",
        ),
    ),
    ConfigSection(
        "Bench configs",
        "A bench file (`configs/bench/*.yaml`, `symoe bench`): the data and its protocol (`data:`, one "
        "of the `kind`s below), the pool, the methods compared and the cost curve. A suite file holds "
        "only `benchmarks: [a.yaml, b.yaml]`.",
        ("orchestrator.bench.config:BenchConfig",),
    ),
    ConfigSection(
        "Audio",
        "An audio team file (`configs/agents/audio-*.yaml`, `symoe audio --config`): the generators, "
        "delivery target, checks and retries. Each entry of `generators:` is validated by the model of "
        "its `generator:` key, listed below.",
        (
            "agents.audio.config:AudioJobConfig",
            "agents.audio.generators.base:GeneratorConfig",
            "agents.audio.generators.speech:PiperConfig",
            "agents.audio.generators.speech:EspeakConfig",
            "agents.audio.generators.speech:FliteConfig",
            "agents.audio.generators.music:MidiMusicConfig",
            "agents.audio.generators.sfx:ProceduralConfig",
            "agents.audio.generators.sfx_library:SfxLibraryConfig",
            "agents.audio.generators.hf_audio:TransformersAudioConfig",
            "agents.audio.generators.hf_audio:DiffusersAudioConfig",
        ),
    ),
    ConfigSection(
        "HTTP service",
        "`symoe serve` builds a `ServiceConfig` from its options and passes it to `create_app`; each "
        "request body is validated by the models after it.",
        (
            "orchestrator.service.config:ServiceConfig",
            "orchestrator.service.app:ChatRequest",
            "orchestrator.service.batch_files:BatchCreateRequest",
        ),
    ),
    ConfigSection(
        "Ray backend",
        "`symoe run --backend ray` builds this from its options (`--ray-address`, `--num-gpus`, "
        "`--gpu-mem-gib`, ...).",
        ("orchestrator.ray.slots:ControllerConfig",),
    ),
    ConfigSection(
        "Benchmark scripts",
        "The settings of the measurement scripts in `benchmarks/` (each script's options map onto these).",
        (
            "benchmarks.tools.speed:SpeedConfig",
            "benchmarks.tools.speed:PlanningConfig",
            "benchmarks.tools.demo_time:DemoTimeConfig",
            "benchmarks.tools.load:LoadConfig",
            "benchmarks.tools.kb:KbBenchConfig",
            "benchmarks.tools.collection:CollectionBenchConfig",
            "benchmarks.tools.gate_quality:GateQualityConfig",
            "benchmarks.tools.embed_speed:EmbedSpeedConfig",
            "benchmarks.tools.math_speed:MathSpeedConfig",
            "benchmarks.tools.cold:BenchProcessConfig",
            "benchmarks.tools.paper_workload:PaperWorkloadConfig",
        ),
    ),
    ConfigSection(
        "Environment settings",
        "Read from the environment (see also the [environment variables](environment.md)).",
        ("common.settings:SymoeSettings",),
    ),
)
"""The sections of the configuration reference, in page order."""


def import_model(ref: str) -> type[BaseModel]:
    """The model class a ``module:Class`` reference names."""
    module_name, _, attr = ref.partition(":")
    obj = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise TypeError(f"{ref} is not a pydantic model")
    return obj


def anchor(model: type[BaseModel]) -> str:
    """The heading anchor of ``model`` on the configuration page."""
    return model.__name__.lower()


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation refers to, in order (through unions, containers, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _nested_models(arg)


def _walk(root: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if root in seen:
        return
    seen.add(root)
    yield root
    for info in root.model_fields.values():
        for model in _nested_models(info.annotation):
            yield from _walk(model, seen)


def documented_models() -> list[tuple[ConfigSection, list[type[BaseModel]]]]:
    """Each section with the models it documents (its roots, then what they refer to), each model once."""
    seen: set[type[BaseModel]] = set()
    out: list[tuple[ConfigSection, list[type[BaseModel]]]] = []
    for section in CONFIG_SECTIONS:
        models: list[type[BaseModel]] = []
        for ref in section.roots:
            models.extend(_walk(import_model(ref), seen))
        out.append((section, models))
    return out


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell (pipes escaped, on one line)."""
    return " ".join(text.replace("|", "\\|").split())


def type_text(annotation: Any, link: Callable[[type[BaseModel]], str] | None = None) -> str:
    """A readable type: ``int``, ``str | None``, ``list[ExpertConfig]``, ``"a" | "b"`` (Literal values).

    Args:
        annotation: a field's annotation.
        link: renders a pydantic model (e.g. as a Markdown link); its class name when None.
    """

    def render(tp: Any) -> str:
        if tp is type(None) or tp is None:
            return "None"
        if tp is Any:
            return "any"
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return link(tp) if link is not None else tp.__name__
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return render(args[0])
        if origin is typing.Literal:
            return " | ".join(json.dumps(a.value if isinstance(a, Enum) else a) for a in args)
        if origin in (typing.Union, types.UnionType):
            return " | ".join(render(a) for a in args)
        if origin is not None:
            name = getattr(origin, "__name__", str(origin))
            inner = ", ".join("..." if a is Ellipsis else render(a) for a in args)
            return f"{name}[{inner}]" if args else name
        if isinstance(tp, type):
            return "path" if issubclass(tp, Path) else tp.__name__
        return str(tp).replace("typing.", "")

    return render(annotation)


def yaml_text(value: Any) -> str:
    """``value`` as YAML would write it in flow style: ``null``, ``true``, ``0.7``, ``[]``, ``{k: v}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return yaml_text(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        text = str(value)
        return json.dumps(text) if text == "" or text != text.strip() or ":" in text else text
    if isinstance(value, BaseModel):
        return yaml_text(value.model_dump(exclude_defaults=True, mode="json"))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {yaml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Iterable):
        return "[" + ", ".join(yaml_text(v) for v in value) + "]"
    return str(value)


def default_value(info: FieldInfo) -> Any:
    """A field's default (its factory called), or :data:`COMPUTED` when the factory needs the other
    fields. Only for a field that is not required."""
    if info.default_factory is not None:
        if getattr(info, "default_factory_takes_validated_data", False):
            return COMPUTED
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def default_text(info: FieldInfo) -> str:
    """The default column: ``required``, or the default as YAML writes it."""
    if info.is_required():
        return REQUIRED
    value = default_value(info)
    if value is COMPUTED:
        return "computed"
    return yaml_text(value)


_CONSTRAINTS = (
    ("gt", "> {}"),
    ("ge", ">= {}"),
    ("lt", "< {}"),
    ("le", "<= {}"),
    ("min_length", "at least {} long"),
    ("max_length", "at most {} long"),
    ("multiple_of", "multiple of {}"),
    ("pattern", "matches `{}`"),
)
"""The bounds pydantic keeps in a field's metadata (annotated-types objects), by attribute."""


def constraints_text(info: FieldInfo) -> str:
    """The field's bounds (``>= 1``, ``at least 1 long``), comma-separated."""
    parts = []
    for meta in info.metadata:
        for attr, fmt in _CONSTRAINTS:
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(fmt.format(value))
    return ", ".join(parts)


def field_key(name: str, info: FieldInfo) -> str:
    """The key a config file (or the environment) uses for a field: its alias when it has one."""
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def model_section(model: type[BaseModel], heading: str = "###") -> str:
    """One model's heading, docstring and field table."""

    def link(m: type[BaseModel]) -> str:
        return f"[{m.__name__}](#{anchor(m)})"

    doc = (model.__doc__ or "").strip()
    if doc.startswith(("Usage docs:", "!!! abstract")) or model.__doc__ == BaseModel.__doc__:
        doc = ""
    lines = [
        f"{heading} {model.__name__} {{ #{anchor(model)} }}",
        "",
        f"`{model.__module__}.{model.__name__}`",
    ]
    if doc:
        lines += ["", doc.split("\n\n")[0].replace("\n", " ")]
    lines += ["", "| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        row = (
            f"`{field_key(name, info)}`",
            _cell(type_text(info.annotation, link)),
            _cell(f"`{default_text(info)}`"),
            _cell(constraints_text(info)),
            _cell(info.description or ""),
        )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _registry_table(columns: tuple[str, str], entries: dict[str, type]) -> str:
    """A two-column table: each registry key with a link to the model that checks its settings."""
    lines = [f"| {columns[0]} | {columns[1]} |", "|---|---|"]
    lines += [f"| `{key}` | [{m.__name__}](#{anchor(m)}) |" for key, m in sorted(entries.items())]
    return "\n".join(lines)


def policy_table() -> str:
    """Each registered policy key with the model that checks its ``options``."""
    from orchestrator.policies import policy_registry

    keys = policy_registry.keys()  # a Registry, not a dict: it has no iteration of its own
    models = {key: policy_registry.get(key).Options for key in keys}
    return _registry_table(("policy", "options model"), models)


def generator_table() -> str:
    """Each registered audio generator key with the model that checks its entry."""
    from agents.audio.generators import generator_registry

    keys = generator_registry.keys()
    models = {key: generator_registry.get(key).config_cls for key in keys}
    return _registry_table(("generator", "config model"), models)


_EXTRA_TABLES: dict[str, Callable[[], str]] = {
    "Methods and policies": policy_table,
    "Audio": generator_table,
}


def configuration_page() -> str:
    """The whole configuration reference page (Markdown)."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `orchestrator.docs_gen` when the site is built: every "
        "field of every config model, with its type, its default as YAML writes it (`required`: no "
        "default), its bounds and its description. A nested block links to its model. Unknown keys are "
        "an error in every config file unless a model says otherwise.",
    ]
    for section, models in documented_models():
        out += ["", f"## {section.title}", "", section.intro]
        if section.title in _EXTRA_TABLES:
            out += ["", _EXTRA_TABLES[section.title]()]
        for model in models:
            out += ["", model_section(model)]
    return "\n".join(out) + "\n"
