"""The architecture as a test: layers import only downwards, and no two modules import each other.

Layers, lowest first: ``common`` < ``skills``, ``batching`` (peers that never import each other) < ``zoo``
(the project's own models, trained and evaluated through the engines), ``agents`` < ``orchestrator``.
Every ``import`` and ``from ... import`` in the packages counts, also inside functions (a lazy import is
still a dependency); only imports under ``if TYPE_CHECKING:`` are ignored. A cycle is a strongly
connected group of two or more modules; a package ``__init__`` that re-exports its submodules is an edge
like any other. The walker is :mod:`orchestrator.docs_gen.imports`, the one the architecture page draws with.

One level down: ``orchestrator``'s first-level children (subpackages and top-level modules) import only
children of lower groups of ``orchestrator/layers.py``, and the ``agents`` modules form no cycle even
counting imports made for type checking only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.docs_gen.imports import REPO, child_of, collapse, cycles, module_graph
from orchestrator.layers import ORCHESTRATOR_LAYERS, layer_of

LAYER = {"common": 0, "skills": 1, "batching": 1, "zoo": 2, "agents": 2, "orchestrator": 3}


def test_the_graph_sees_the_packages() -> None:
    graph = module_graph()
    assert {"common.errors", "batching.engines.base", "orchestrator.pipeline.session"} <= set(graph)
    assert "common.generation" in graph["batching.engines.base"]  # a real edge is found


def test_layers_import_only_downwards() -> None:
    bad = [
        f"{mod} imports {dep}"
        for mod, deps in module_graph().items()
        for dep in deps
        if (a := mod.split(".")[0]) != (b := dep.split(".")[0]) and LAYER[b] >= LAYER[a]
    ]
    assert not bad, (
        "imports against the layering (common < skills, batching < zoo, agents < orchestrator):\n"
        + ("\n".join(sorted(bad)))
    )


def test_no_import_cycles() -> None:
    found = cycles(module_graph())
    assert not found, "modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_every_child_of_orchestrator_has_a_layer() -> None:
    pkg = REPO / "orchestrator"
    children = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in pkg.iterdir() if (p / "__init__.py").is_file()}
    listed = [c for group in ORCHESTRATOR_LAYERS for c in group]
    assert len(listed) == len(set(listed)), "a child is listed twice"
    assert children == set(listed)


def test_orchestrator_children_import_only_lower_layers() -> None:
    graph = collapse(module_graph(), child_of("orchestrator"))
    name = {node: node.split(".")[1] for node in graph}
    bad = [
        f"{src} imports {dst}"
        for src, targets in graph.items()
        for dst in targets
        if layer_of(name[src]) <= layer_of(dst.split(".")[1])
    ]
    assert not bad, "imports against orchestrator/layers.py:\n" + "\n".join(sorted(bad))
    assert not cycles(graph)


def test_an_unplaced_child_is_named() -> None:
    with pytest.raises(KeyError, match=r"orchestrator\.nowhere"):
        layer_of("nowhere")


def test_no_cycle_among_agents_modules_not_even_for_types() -> None:
    graph = module_graph(packages=("agents",), type_checking=True)
    found = cycles(graph)
    assert not found, "agents modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_collapse_and_child_of_map_modules_to_children() -> None:
    graph = {"orchestrator.a.x": {"orchestrator.b"}, "orchestrator.b": {"orchestrator.a.y", "common.z"}}
    assert collapse(graph, child_of("orchestrator")) == {
        "orchestrator.a": {"orchestrator.b"},
        "orchestrator.b": {"orchestrator.a"},
    }
    assert cycles(collapse(graph, child_of("orchestrator"))) == [["orchestrator.a", "orchestrator.b"]]


def test_a_cycle_hidden_behind_type_checking_is_found_when_asked(tmp_path: Path) -> None:
    pkg = tmp_path / "agents"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "team.py").write_text("def run():\n    from agents import delivery  # lazy\n")
    (pkg / "delivery.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agents.team import run\n"
    )
    assert cycles(module_graph(tmp_path, ("agents",))) == []
    assert cycles(module_graph(tmp_path, ("agents",), type_checking=True)) == [
        ["agents.delivery", "agents.team"]
    ]
