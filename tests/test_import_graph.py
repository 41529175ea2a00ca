"""The architecture as a test: layers import only downwards, and no two modules import each other.

Layers, lowest first: ``common`` < ``skills``, ``batching`` (peers that never import each other) < ``zoo``
(the project's own models, trained and evaluated through the engines), ``agents`` < ``orchestrator``.
Every ``import`` and ``from ... import`` in the packages counts, also inside functions (a lazy import is
still a dependency); only imports under ``if TYPE_CHECKING:`` are ignored. A cycle is a strongly
connected group of two or more modules; a package ``__init__`` that re-exports its submodules is an edge
like any other. The walker is :mod:`orchestrator.docs_gen.imports`, the one the architecture page draws with.
"""

from __future__ import annotations

import pytest

from orchestrator.docs_gen.imports import cycles, module_graph

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
