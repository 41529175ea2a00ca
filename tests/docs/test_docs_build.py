"""The documentation site builds with ``mkdocs build --strict``: no warning, no broken link or anchor, and
the generated reference pages land in the site."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocs_gen_files")


@pytest.mark.slow
def test_site_builds_strict_with_the_generated_pages(tmp_path: Path) -> None:
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    site = tmp_path / "site"
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "DISABLE_MKDOCS_2_WARNING": "true",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    config = (site / "reference" / "configuration" / "index.html").read_text(encoding="utf-8")
    assert 'id="poolconfig"' in config and 'id="benchconfig"' in config and 'id="audiojobconfig"' in config
    assert 'id="symoe-serve"' in (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "SYMOE_HOME" in (site / "reference" / "environment" / "index.html").read_text(encoding="utf-8")
    architecture = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    assert architecture.count('class="mermaid"') == 2 and "package-graph" not in architecture
    assert "SymbolicMoE" in (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
