"""Whether an expert's model id names a local path, and the check that such a path holds a model.

Run before any model loads (``symoe run`` checks its pool before it prints a run id), so a typo in a path
fails as "no model at PATH" instead of later, as a footprint estimate or a hub download that cannot work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import ConfigError

_NO_LOCAL_WEIGHTS = frozenset({"replay", "openai_http"})
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def looks_like_local_path(model_id: str) -> bool:
    """True when ``model_id`` can only be a path: absolute, ``./``, ``../``, ``~``, or more than one ``/``
    (a hub id is ``name`` or ``org/name``)."""
    return model_id.startswith(_PATH_PREFIXES) or model_id.count("/") > 1 or model_id in (".", "..")


def check_local_model(config: Any) -> None:
    """Raise when ``config``'s model id is a local path with no model there.

    Args:
        config: an expert config (:data:`batching.config.ExpertConfig`); HTTP and replay experts pass.

    Raises:
        ConfigError: the path does not exist, or is a folder without ``config.json`` (names the expert,
            the path and the fix).
    """
    if getattr(config, "engine", None) in _NO_LOCAL_WEIGHTS:
        return
    model_id = getattr(config, "model_id", None)
    if not isinstance(model_id, str):
        return
    path = Path(model_id).expanduser()
    if not path.exists():
        if not looks_like_local_path(model_id):
            return  # a hub id: the engine resolves it from the local cache when it loads
        where = path if path.is_absolute() else f"{path} (resolved: {path.resolve()})"
        raise ConfigError(
            f"expert {getattr(config, 'name', '?')!r}: no model at {where}; fix `model` in the pool "
            "config (a folder with config.json and weights, a hub id, or tiny:/zoo: NAME)"
        )
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(
            f"expert {getattr(config, 'name', '?')!r}: no model at {path} (a folder without config.json); "
            "point `model` at the folder that holds config.json and the weights"
        )
