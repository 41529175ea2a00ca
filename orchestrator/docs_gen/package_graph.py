"""The package graph: which subpackages import which, read from the source, drawn as a Mermaid flowchart.

Nodes are the packages and their first-level subpackages (``orchestrator.pipeline``, ``batching.engines``;
a top-level module such as ``orchestrator.api`` counts toward its package). Every ``import`` counts, also
inside functions; imports under ``if TYPE_CHECKING:`` do not. Edges inside one package are drawn inside
its box; an edge is kept only once per pair of nodes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")
"""The project's packages, lowest layer first."""

_SKIP = {"docs_gen"}
"""Subpackages left out of the picture (this generator itself)."""


def _node(module: str, subpackages: set[str]) -> str:
    """The node a module belongs to: its first-level subpackage (when ``subpackages`` has it), else its
    package ("" when skipped)."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in _SKIP:
        return ""
    sub = ".".join(parts[:2])
    return sub if sub in subpackages else parts[0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, module: str, is_pkg: bool) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_pkg else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.update(f"{base}.{alias.name}" for alias in node.names)
            found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _module_nodes(root: Path) -> dict[str, Path]:
    """Every module of the packages (dotted name) with its file."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def package_graph(
    root: Path | None = None, subpackages_of: tuple[str, ...] = PACKAGES
) -> dict[str, set[str]]:
    """Each node (a package, or a first-level subpackage of ``subpackages_of``) with the nodes it imports.

    Args:
        root: the folder holding the packages; the repository of this file when None.
        subpackages_of: the packages drawn as their subpackages; ``()`` draws packages only.
    """
    base = root if root is not None else Path(__file__).resolve().parents[2]
    modules = _module_nodes(base)
    subpackages = {
        m
        for m, p in modules.items()
        if p.name == "__init__.py" and m.count(".") == 1 and m.split(".")[0] in subpackages_of
    }
    nodes = {n for n in (_node(m, subpackages) for m in modules) if n}
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    for module, path in modules.items():
        src = _node(module, subpackages)
        if not src:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imported(tree, module, path.name == "__init__.py"):
            if target.split(".")[0] not in PACKAGES:
                continue
            dst = _node(target, subpackages)
            if dst and dst != src:
                graph[src].add(dst)
    return graph


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
