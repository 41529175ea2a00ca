"""Environment settings (``SYMOE_*``) and the one root every cache and store defaults under.

Every default location of the project is a folder of :func:`symoe_home`:

==============================  ==========================================
``$SYMOE_HOME/embeddings``      the embedding cache (skills.embedding)
``$SYMOE_HOME/onnx``            ONNX exports of the embedding model (skills.onnx_encoder)
``$SYMOE_HOME/tiny-models``     the tiny random-weight Llama pool (zoo.tiny)
``$SYMOE_HOME/profiles``        profiles written by ``SymbolicMoE.profile``
``$SYMOE_HOME/runs.sqlite``     the run store (batching.journal.store)
``$SYMOE_HOME/service``         the HTTP service's batch files
``$SYMOE_HOME/kb``              the knowledge store (orchestrator.retrieval)
``$SYMOE_HOME/logs``            command logs of the CLI
==============================  ==========================================

``SYMOE_HOME`` defaults to ``$XDG_CACHE_HOME/symbolic-moe``, else ``~/.cache/symbolic-moe``. Defaults
are written ``$SYMOE_HOME/...`` (so help texts and configs show them unresolved) and resolved by
:func:`expand_path` where they are used, not at import, so a test or a caller can set the variable first::

    from common.settings import expand_path, home_path
    home_path("runs.sqlite")                # ~/.cache/symbolic-moe/runs.sqlite unless SYMOE_HOME is set
    expand_path("$SYMOE_HOME/embeddings")   # the same rule; "~" is expanded too
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

HOME_VAR = "$SYMOE_HOME"
"""The placeholder that defaults start with; :func:`expand_path` replaces it."""
APP_DIR_NAME = "symbolic-moe"
"""The folder name under ``$XDG_CACHE_HOME`` (or ``~/.cache``) when ``SYMOE_HOME`` is unset."""


class SymoeSettings(BaseSettings):
    """The ``SYMOE_*`` environment variables this package reads for its defaults."""

    model_config = SettingsConfigDict(
        env_prefix="SYMOE_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    home: Path | None = Field(
        default=None,
        description="Root of caches and stores (SYMOE_HOME); unset: $XDG_CACHE_HOME/symbolic-moe.",
    )
    embedding_backend: str | None = Field(
        default=None,
        description="Embedding backend of skills.embedding (SYMOE_EMBEDDING_BACKEND): auto, torch, onnx or "
        "onnx-int8; unset: auto (onnx when onnxruntime is installed).",
    )
    xdg_cache_home: Path | None = Field(
        default=None,
        validation_alias="XDG_CACHE_HOME",
        description="The XDG base directory for caches (XDG_CACHE_HOME); unset or empty: ~/.cache.",
    )


def load_settings() -> SymoeSettings:
    """The settings as the environment gives them now."""
    return SymoeSettings()


def symoe_home(settings: SymoeSettings | None = None) -> Path:
    """The root folder of caches and stores: ``SYMOE_HOME``, ``$XDG_CACHE_HOME/symbolic-moe`` or
    ``~/.cache/symbolic-moe``, user-expanded (``~``). The folder is not created here.

    Args:
        settings: the settings to use; read from the environment when None.
    """
    s = settings if settings is not None else load_settings()
    if s.home is not None:
        return s.home.expanduser()
    base = s.xdg_cache_home if s.xdg_cache_home is not None else Path("~/.cache")
    return base.expanduser() / APP_DIR_NAME


def home_path(*parts: str) -> Path:
    """A path under :func:`symoe_home`, e.g. ``home_path("runs.sqlite")``; nothing is created."""
    return symoe_home().joinpath(*parts)


def restore_env(key: str, value: str | None) -> None:
    """Put environment variable ``key`` back as it was saved with ``os.environ.get``: unset when None."""
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def expand_path(path: str | Path) -> Path:
    """``path`` with a leading ``$SYMOE_HOME`` replaced by :func:`symoe_home` and ``~`` expanded.

    Example:
        >>> expand_path("$SYMOE_HOME/runs.sqlite")  # doctest: +SKIP
        PosixPath('/home/me/.cache/symbolic-moe/runs.sqlite')
    """
    text = str(path)
    if text == HOME_VAR or text.startswith(HOME_VAR + "/"):
        return symoe_home().joinpath(text[len(HOME_VAR) + 1 :])
    return Path(text).expanduser()
