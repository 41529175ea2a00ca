"""The environment-variable reference: every ``SYMOE_*`` variable the packages read, and what it does.

The variables are found in the source (string literals naming ``SYMOE_*``, and the settings model's
fields), so a new variable without a description here fails the reference's test instead of going
undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path

from common.settings import SymoeSettings

PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")
"""The packages whose source is scanned for ``SYMOE_*`` names."""

_NAME = re.compile(r"\bSYMOE_[A-Z][A-Z0-9_]*\b")

DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "SYMOE_HOME": (
        "`$XDG_CACHE_HOME/symbolic-moe`, else `~/.cache/symbolic-moe`",
        "The root every cache and store defaults under: `embeddings/`, `tiny-models/`, `profiles/`, "
        "`runs.sqlite`, `service/`, `kb/`, `math-verify/`, `onnx/` and `logs/`. Read when a default is used, "
        "not at import.",
    ),
    "SYMOE_STORE": (
        "`$SYMOE_HOME/runs.sqlite`",
        "The run store (SQLite) of `symoe run`, `symoe runs`, `symoe audio`: the same as `--store`.",
    ),
    "SYMOE_API_KEYS": (
        "unset: no auth, loopback only",
        "`symoe serve`: the accepted bearer keys, comma-separated. Without keys the server binds "
        "127.0.0.1 only and says so.",
    ),
    "SYMOE_LOG_LEVEL": (
        "`WARNING` (`INFO` with `--verbose`)",
        "The level of the log records the CLI shows on screen; everything still goes to the log file.",
    ),
    "SYMOE_PROGRESS_SECONDS": (
        "`10`",
        "When the output is not a terminal (a pipe, a log, CI): seconds between the plain progress lines "
        "that replace the bars, one line per task that moved.",
    ),
    "SYMOE_EMBEDDING_BACKEND": (
        "`auto`: `onnx` when onnxruntime is installed, else `torch`",
        "The embedding backend of questions, skills and passages: `auto`, `torch` (sentence-transformers), "
        "`onnx` (the same vectors on ONNX Runtime) or `onnx-int8` (faster, slightly different vectors). "
        "See [Performance](../performance.md#embeddings-backends).",
    ),
    "SYMOE_TINY_MODELS_DIR": (
        "`$SYMOE_HOME/tiny-models`",
        "`scripts/build_tiny_models.py`: where the tiny random-weight Llama pool is built.",
    ),
}
"""Each variable's default and description (the settings model's fields add theirs)."""


def _source_names(root: Path) -> set[str]:
    names: set[str] = set()
    for pkg in (*PACKAGES, "scripts"):
        for path in sorted((root / pkg).rglob("*.py")):
            names.update(_NAME.findall(path.read_text(encoding="utf-8")))
    return names


def _settings_names() -> set[str]:
    prefix = str(SymoeSettings.model_config.get("env_prefix", ""))
    return {
        prefix + name.upper()
        for name, info in SymoeSettings.model_fields.items()
        if not isinstance(info.validation_alias, str)
    }


def environment_variables(root: Path | None = None) -> list[str]:
    """Every ``SYMOE_*`` variable the source names or the settings model reads, sorted.

    Args:
        root: the repository (or installed packages') root; the parent of this package when None.
    """
    base = root if root is not None else Path(__file__).resolve().parents[2]
    return sorted((_source_names(base) | _settings_names()) - {"SYMOE_"})


def environment_page(root: Path | None = None) -> str:
    """The environment-variable reference page (Markdown).

    Raises:
        KeyError: a variable found in the source has no entry in :data:`DESCRIPTIONS`.
    """
    lines = [
        "# Environment variables",
        "",
        "Generated from the source by `orchestrator.docs_gen`: every `SYMOE_*` variable the packages "
        "read. An empty value counts as unset. A command-line option, where one exists, wins over the "
        "variable.",
        "",
        "| variable | default | what it does |",
        "|---|---|---|",
    ]
    for name in environment_variables(root):
        if name not in DESCRIPTIONS:
            raise KeyError(f"{name} is read by the code but has no description in env_reference.py")
        default, text = DESCRIPTIONS[name]
        lines.append(f"| `{name}` | {default} | {text} |")
    lines += [
        "",
        "Also read: `XDG_CACHE_HOME` (the base of the default `SYMOE_HOME`), `RAY_ADDRESS` (the Ray "
        "cluster `symoe run --backend ray` attaches to) and the variable each OpenAI-compatible expert "
        "names in `api_key_env`.",
    ]
    return "\n".join(lines) + "\n"
