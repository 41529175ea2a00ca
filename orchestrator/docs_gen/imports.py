"""The project's import graph, read from the source: which module imports which, and the cycles in it.

One walker for the architecture test (``tests/test_import_graph.py``) and the package graph drawn on the
architecture page (:mod:`orchestrator.docs_gen.package_graph`). Every ``import`` and ``from ... import``
counts, also inside functions (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:``
count only when asked for. A target is resolved to the longest project module it names, so
``from orchestrator.pipeline import Job`` is an edge to ``orchestrator.pipeline`` and ``from orchestrator
import api`` one to ``orchestrator.api``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")
"""The project's packages, lowest layer first."""

REPO = Path(__file__).resolve().parents[2]
"""The folder holding the packages (this checkout)."""


def module_files(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (a package by its ``__init__``)."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")) if (root / pkg).is_dir() else []:
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, name: str, known: set[str], *, type_checking: bool = False) -> set[str]:
    """The project modules that module ``name`` (in ``path``) imports, each resolved to the longest module
    of ``known`` it names; ``type_checking`` counts imports under ``if TYPE_CHECKING:`` too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(target: str) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not type_checking:
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                resolve(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def module_graph(
    root: Path = REPO, packages: Iterable[str] = PACKAGES, *, type_checking: bool = False
) -> dict[str, set[str]]:
    """Each module of ``packages`` with the project modules it imports (see :func:`imports_of`)."""
    modules = module_files(root, packages)
    known = set(modules)
    return {
        name: imports_of(path, name, known, type_checking=type_checking) for name, path in modules.items()
    }


def collapse(graph: Mapping[str, set[str]], node_of: Callable[[str], str | None]) -> dict[str, set[str]]:
    """The graph among coarser nodes: ``node_of`` maps a module to its node (None leaves it out); an edge
    inside one node is dropped."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = node_of(module)
        if src is None:
            continue
        out.setdefault(src, set())
        for target in targets:
            dst = node_of(target)
            if dst is not None and dst != src:
                out[src].add(dst)
    return out


def child_of(package: str) -> Callable[[str], str | None]:
    """A ``node_of`` for :func:`collapse`: a module of ``package`` maps to its first-level child (a
    subpackage or a top-level module, ``orchestrator.pipeline.job`` to ``orchestrator.pipeline``); the
    package's own ``__init__`` and other packages' modules to None."""
    depth = package.count(".") + 2

    def node(module: str) -> str | None:
        if not module.startswith(package + "."):
            return None
        return ".".join(module.split(".")[:depth])

    return node


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected groups of two or more nodes, each sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    out.append(sorted(group))
    return out
