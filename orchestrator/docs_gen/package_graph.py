"""The package graph: which subpackages import which, read from the source, drawn as a Mermaid flowchart.

Nodes are the packages and their first-level subpackages (``orchestrator.pipeline``, ``batching.engines``;
a top-level module such as ``orchestrator.api`` counts toward its package). Every ``import`` counts, also
inside functions; imports under ``if TYPE_CHECKING:`` do not. Edges inside one package are drawn inside
its box; an edge is kept only once per pair of nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestrator.docs_gen.imports import PACKAGES, REPO, collapse, module_graph

_SKIP = {"docs_gen"}
"""Subpackages left out of the picture (this generator itself)."""


def package_graph(
    root: Path | None = None, subpackages_of: tuple[str, ...] = PACKAGES
) -> dict[str, set[str]]:
    """Each node (a package, or a first-level subpackage of ``subpackages_of``) with the nodes it imports.

    Args:
        root: the folder holding the packages; the repository of this file when None.
        subpackages_of: the packages drawn as their subpackages; ``()`` draws packages only.
    """
    modules = module_graph(root if root is not None else REPO)
    subpackages = {
        m
        for m in modules
        if m.count(".") == 1
        and m.split(".")[0] in subpackages_of
        and any(k.startswith(m + ".") for k in modules)
    }

    def node(module: str) -> str | None:
        parts = module.split(".")
        if len(parts) >= 2 and parts[1] in _SKIP:
            return None
        sub = ".".join(parts[:2])
        return sub if sub in subpackages else parts[0]

    return collapse(modules, node)


def _mermaid_id(node: str) -> str:
    return node.replace(".", "_")


def package_graph_mermaid(
    root: Path | None = None,
    subpackages_of: tuple[str, ...] = PACKAGES,
    graph: Mapping[str, set[str]] | None = None,
) -> str:
    """The package graph as a Mermaid flowchart (a ``mermaid`` code block's content), layers top-down.

    Args:
        root: as for :func:`package_graph`.
        subpackages_of: as for :func:`package_graph`.
        graph: a graph :func:`package_graph` already built (then ``root`` and ``subpackages_of`` are unused).
    """
    if graph is None:
        graph = package_graph(root, subpackages_of)
    lines = ["flowchart TB"]
    for pkg in reversed(PACKAGES):
        members = sorted(n for n in graph if n.split(".")[0] == pkg)
        if not members:
            continue
        if members == [pkg]:
            lines.append(f'  {_mermaid_id(pkg)}["{pkg}"]')
            continue
        lines.append(f"  subgraph {pkg}_box [{pkg}]")
        for node in members:
            label = node.split(".", 1)[1] if "." in node else pkg
            lines.append(f'    {_mermaid_id(node)}["{label}"]')
        lines.append("  end")
    for src in sorted(graph):
        for dst in sorted(graph[src]):
            lines.append(f"  {_mermaid_id(src)} --> {_mermaid_id(dst)}")
    return "\n".join(lines) + "\n"
