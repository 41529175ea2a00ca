"""The generated reference pages against the code they describe.

The configuration reference must list every field of every config model with its type and default; a
config model that no section reaches (found independently, by scanning the source for classes named
``*Config``/``*Options``/``*Settings``) fails the test. The environment page must name every ``SYMOE_*``
variable the source reads, the CLI page every command and option, and the architecture page the graph.
"""

from __future__ import annotations

import ast
import importlib
import re
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from orchestrator.docs_gen import (
    cli_page,
    configuration_page,
    documented_models,
    environment_page,
    orchestrator_layers_table,
    package_graph,
    package_graph_mermaid,
)
from orchestrator.docs_gen.config_reference import field_key
from orchestrator.layers import ORCHESTRATOR_LAYERS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")
CONFIG_NAME = re.compile(r"^[A-Z]\w*(Config|Options|Settings)$")


@pytest.fixture(scope="module")
def config_page() -> str:
    return configuration_page()


def _tables(page: str) -> dict[str, dict[str, list[str]]]:
    """Each model heading (``### Name { #anchor }``) with its table: field key -> the other cells."""
    out: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in page.splitlines():
        heading = re.match(r"^### (\w+) \{ #\w+ \}$", line)
        if heading:
            current = out.setdefault(heading.group(1), {})
            continue
        if line.startswith("#"):
            current = None
        elif current is not None and line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            current[cells[0].strip("`")] = cells[1:]
    return out


def _leaf_names(annotation: Any) -> set[str]:
    """The names a reader must find in a field's type cell: classes, and Literal values."""
    if annotation is type(None):
        return {"None"}
    if annotation is Any:
        return {"any"}
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {str(a.value if isinstance(a, Enum) else a) for a in typing.get_args(annotation)}
    if origin is typing.Annotated:
        return _leaf_names(typing.get_args(annotation)[0])
    if origin is not None:
        names = {getattr(origin, "__name__", "")} - {"Union", "UnionType", ""}
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                names |= _leaf_names(arg)
        return names
    if isinstance(annotation, type):
        return {"path"} if issubclass(annotation, Path) else {annotation.__name__}
    return set()


def _expected_default(info: FieldInfo) -> str | None:
    """The default cell a scalar or empty default must show; None where the test does not pin it."""
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and value and ":" not in value and value == value.strip():
        return value
    if isinstance(value, list | tuple) and not value:
        return "[]"
    if isinstance(value, dict) and not value:
        return "{}"
    return None


def test_every_field_of_every_documented_model_has_its_type_and_default(config_page: str) -> None:
    tables = _tables(config_page)
    models = [m for _, ms in documented_models() for m in ms]
    assert len(models) == len(set(models)), "a model is documented twice"
    for model in models:
        assert model.__name__ in tables, f"{model.__name__} has no section on the page"
        table = tables[model.__name__]
        keys = {field_key(name, info) for name, info in model.model_fields.items()}
        assert set(table) == keys, f"{model.__name__}: page fields != model fields"
        for name, info in model.model_fields.items():
            type_cell, default_cell, _constraints, description = table[field_key(name, info)]
            for leaf in _leaf_names(info.annotation):
                assert leaf in type_cell, f"{model.__name__}.{name}: {leaf!r} not in type {type_cell!r}"
            expected = _expected_default(info)
            if expected is not None:
                assert default_cell == f"`{expected}`", f"{model.__name__}.{name}: default {default_cell}"
            else:
                assert default_cell.strip("`"), f"{model.__name__}.{name}: empty default cell"
            if info.description:
                assert " ".join(info.description.split())[:40].replace("|", "\\|") in description


def _config_classes_in_source() -> set[tuple[str, str]]:
    """(module, class) of every top-level class named like a config in the packages' source."""
    found = set()
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and CONFIG_NAME.match(node.name):
                    found.add((module, node.name))
    return found


def test_every_config_model_in_the_source_is_documented() -> None:
    documented = {m for _, ms in documented_models() for m in ms}
    missing = []
    for module, name in sorted(_config_classes_in_source()):
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls not in documented:
            missing.append(f"{module}.{name}")
    assert not missing, f"config models missing from orchestrator/docs_gen CONFIG_SECTIONS: {missing}"


def test_service_settings_are_every_field_of_service_config(config_page: str) -> None:
    import inspect

    from orchestrator.service.app import create_app
    from orchestrator.service.config import ServiceConfig

    assert list(inspect.signature(create_app).parameters) == ["config"], "create_app takes one config"
    section = config_page.split("## HTTP service", 1)[1].split("\n## ", 1)[0]
    assert "### ServiceConfig" in section
    for name in ServiceConfig.model_fields:
        assert f"| `{name}` |" in section, name


def test_environment_page_names_every_symoe_variable_the_source_reads() -> None:
    page = environment_page()
    names = set()
    for pkg in (*PACKAGES, "scripts"):
        for path in (ROOT / pkg).rglob("*.py"):
            names |= set(re.findall(r"\bSYMOE_[A-Z][A-Z0-9_]*\b", path.read_text(encoding="utf-8")))
    assert "SYMOE_HOME" in names
    for name in names:
        assert f"| `{name}` |" in page, name


def test_cli_page_lists_every_command_and_option() -> None:
    import typer

    from orchestrator.cli import app

    page = cli_page()
    root = typer.main.get_command(app)
    stack: list[tuple[str, Any]] = [("symoe", root)]
    seen = 0
    while stack:
        path, cmd = stack.pop()
        assert f"## `{path}`" in page, path
        section = page.split(f"## `{path}`", 1)[1].split("\n## ", 1)[0]
        for param in cmd.params:
            if getattr(param, "hidden", False):
                continue
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt != "--help":
                    assert f"`{opt}`" in section, f"{path}: {opt}"
        for name, sub in getattr(cmd, "commands", {}).items():
            stack.append((f"{path} {name}", sub))
        seen += 1
    assert seen >= 10  # the app, its groups and their commands


def test_package_graph_draws_every_package_and_import() -> None:
    graph = package_graph(subpackages_of=())
    assert set(graph) == set(PACKAGES)
    assert "common" in graph["orchestrator"] and not graph["common"]
    text = package_graph_mermaid(graph=graph)
    for src, targets in graph.items():
        for dst in targets:
            assert f"  {src} --> {dst}" in text
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "<!-- package-graph -->" in architecture and "<!-- orchestrator-graph -->" in architecture
    assert "<!-- orchestrator-layers -->" in architecture


def test_the_layer_table_lists_every_child_with_what_it_imports() -> None:
    layers = (("low",), ("mid", "other"), ("top",))
    graph = {
        "orchestrator.top": {"orchestrator.mid", "orchestrator.low"},
        "orchestrator.mid": {"orchestrator.low"},
    }
    rows = orchestrator_layers_table(layers, graph).splitlines()
    assert rows[2:] == [
        "| 0 | `low` | - |",
        "| 1 | `mid` | low |",
        "| 1 | `other` | - |",
        "| 2 | `top` | low, mid |",
    ]
    real = orchestrator_layers_table(ORCHESTRATOR_LAYERS)
    assert "| `pipeline` |" in real and real.count("\n") == 2 + sum(len(g) for g in ORCHESTRATOR_LAYERS)
