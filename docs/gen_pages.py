"""Writes the generated reference pages into the site at ``mkdocs build`` time (the gen-files plugin).

The pages come from ``orchestrator.docs_gen``: the configuration reference (pydantic models), the
environment variables (source scan), the CLI reference (typer app), and the package graph, which
replaces the ``<!-- package-graph -->`` and ``<!-- orchestrator-graph -->`` markers of architecture.md, and
the table of ``orchestrator``'s children by layer, which replaces ``<!-- orchestrator-layers -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout's packages, also when the project is not installed
    sys.path.insert(0, str(ROOT))

from orchestrator.docs_gen import (  # noqa: E402
    cli_page,
    configuration_page,
    environment_page,
    orchestrator_layers_table,
    package_graph_mermaid,
)
from orchestrator.layers import ORCHESTRATOR_LAYERS  # noqa: E402

PAGES = {
    "reference/configuration.md": configuration_page,
    "reference/environment.md": environment_page,
    "reference/cli.md": cli_page,
}

for name, build in PAGES.items():
    with mkdocs_gen_files.open(name, "w") as f:
        f.write(build())
    mkdocs_gen_files.set_edit_path(name, "gen_pages.py")

architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
graphs = {
    "<!-- package-graph -->": package_graph_mermaid(subpackages_of=()),
    "<!-- orchestrator-graph -->": package_graph_mermaid(
        subpackages_of=("orchestrator", "batching", "agents")
    ),
}
for marker, graph in graphs.items():
    architecture = architecture.replace(marker, f"```mermaid\n{graph}```")
architecture = architecture.replace(
    "<!-- orchestrator-layers -->", orchestrator_layers_table(ORCHESTRATOR_LAYERS)
)
with mkdocs_gen_files.open("architecture.md", "w") as f:
    f.write(architecture)
