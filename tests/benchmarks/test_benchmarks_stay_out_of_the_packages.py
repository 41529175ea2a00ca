"""`benchmarks/` is the checkout's top layer: no installed package imports it (the wheel leaves it out),
and `orchestrator/bench/` keeps only the accuracy protocol (the measurement tools are `benchmarks.tools`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_installed_package_imports_benchmarks() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for pkg in PACKAGES
        for path in sorted((ROOT / pkg).rglob("*.py"))
        if any(name.split(".")[0] == "benchmarks" for name in _imports(path))
    ]
    assert not offenders, offenders


def test_every_benchmark_tool_is_used_by_a_script() -> None:
    scripts = [p for p in sorted((ROOT / "benchmarks").glob("*.py")) if p.name != "__init__.py"]
    used = {name for p in scripts for name in _imports(p)}
    used |= {name for p in (ROOT / "benchmarks" / "tools").glob("*.py") for name in _imports(p)}
    tools = {f"benchmarks.tools.{p.stem}" for p in (ROOT / "benchmarks" / "tools").glob("*.py")}
    assert tools - {"benchmarks.tools.__init__"} <= used
