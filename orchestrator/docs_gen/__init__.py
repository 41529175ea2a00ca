"""Generators of the documentation site's reference pages, built from the code at ``mkdocs build`` time.

Each function returns a Markdown page as a string; ``docs/gen_pages.py`` (run by the mkdocs-gen-files
plugin) writes them into the site, and the tests compare them with the code they describe:

- :func:`configuration_page`: every field of every config model (type, default, constraints,
  description), grouped by the file that holds it (pools, bench configs, retrieval, audio, Ray, ...);
- :func:`environment_page`: every ``SYMOE_*`` environment variable the code reads;
- :func:`cli_page`: every ``symoe`` command with its arguments and options, from the typer app;
- :func:`package_graph_mermaid`: the import graph of the packages as a Mermaid flowchart;
- :func:`orchestrator_layers_table`: ``orchestrator``'s children by layer, with what each imports.
"""

from __future__ import annotations

from orchestrator.docs_gen.cli_reference import cli_page
from orchestrator.docs_gen.config_reference import (
    CONFIG_SECTIONS,
    ConfigSection,
    configuration_page,
    documented_models,
)
from orchestrator.docs_gen.env_reference import environment_page, environment_variables
from orchestrator.docs_gen.package_graph import (
    orchestrator_layers_table,
    package_graph,
    package_graph_mermaid,
)

__all__ = [
    "CONFIG_SECTIONS",
    "ConfigSection",
    "cli_page",
    "configuration_page",
    "documented_models",
    "environment_page",
    "environment_variables",
    "orchestrator_layers_table",
    "package_graph",
    "package_graph_mermaid",
]
