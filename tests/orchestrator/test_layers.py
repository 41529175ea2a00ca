"""orchestrator's first-level children import only lower groups of ``ORCHESTRATOR_LAYERS`` (no cycle)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.docs_gen.imports import module_graph
from orchestrator.layers import ORCHESTRATOR_LAYERS, layer_of

ROOT = Path(__file__).resolve().parents[2]


def _child(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "orchestrator" and len(parts) > 1 else None


@pytest.fixture(scope="module")
def child_edges() -> list[tuple[str, str, str, str]]:
    graph = module_graph()
    return [
        (a, b, mod, dep)
        for mod, deps in graph.items()
        for dep in deps
        if (a := _child(mod)) is not None and (b := _child(dep)) is not None and a != b
    ]


def test_every_child_of_orchestrator_has_a_layer() -> None:
    pkg = ROOT / "orchestrator"
    children = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in pkg.iterdir() if (p / "__init__.py").is_file()}
    listed = [c for group in ORCHESTRATOR_LAYERS for c in group]
    assert len(listed) == len(set(listed)), "a child is listed twice"
    assert children == set(listed)


def test_children_import_only_lower_layers(child_edges: list[tuple[str, str, str, str]]) -> None:
    bad = [f"{mod} imports {dep}" for a, b, mod, dep in child_edges if layer_of(a) <= layer_of(b)]
    assert not bad, "imports against orchestrator/layers.py:\n" + "\n".join(sorted(bad))


def test_an_unplaced_child_is_named() -> None:
    with pytest.raises(KeyError, match=r"orchestrator\.nowhere"):
        layer_of("nowhere")
