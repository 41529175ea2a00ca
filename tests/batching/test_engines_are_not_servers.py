"""`batching/` is engines and batching, never a server: no module there imports a web framework (the
OpenAI-compatible servers live in ``orchestrator/service/`` and need the ``serve`` extra)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = {"fastapi", "starlette", "uvicorn", "multipart", "prometheus_client"}


def _imported_tops(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_no_batching_module_imports_a_web_framework() -> None:
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(_imported_tops(path) & WEB)
        for path in sorted((ROOT / "batching").rglob("*.py"))
        if _imported_tops(path) & WEB
    }
    assert not offenders, offenders
