"""Reading config-like files (YAML or JSON) into validated pydantic models, with errors naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from common.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a YAML (or JSON, a subset of YAML) file whose top level must be a mapping.

    Args:
        path: the file.
        what: how error messages name the file, e.g. "bench config".

    Raises:
        ConfigError: missing or unreadable file, not UTF-8 text, invalid YAML, or not a mapping.
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {p}: file not found; pass an existing path") from exc
    except OSError as exc:
        raise ConfigError(f"{what} {p}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:  # a binary file, or text in another encoding (latin-1...)
        raise ConfigError(
            f"{what} {p}: not UTF-8 text (byte {exc.start}); pass a YAML file saved as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p}: invalid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {p}: expected a mapping at the top level, got {type(raw).__name__}")
    bad = _lone_surrogate(raw)
    if bad is not None:  # YAML keeps "\\ud83c" escapes as lone surrogates, which no file name can hold
        raise ConfigError(f"{what} {p}: {bad!r} is not valid Unicode (a lone surrogate escape); fix the text")
    return raw


def _lone_surrogate(value: Any) -> str | None:
    """The first string (key or value) of a parsed YAML tree that cannot be encoded as UTF-8, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:80]
        return None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((bad for item in items if (bad := _lone_surrogate(item)) is not None), None)


def load_model_file(path: str | Path, model: type[M], what: str) -> M:
    """Read ``path`` and validate it as ``model``; a validation error names the file and the fields.

    Raises:
        ConfigError: unreadable file or invalid content.
    """
    return validate_model(read_mapping(path, what), model, f"{what} {Path(path)}")


def validate_model(raw: Any, model: type[M], what: str) -> M:
    """Validate ``raw`` as ``model``; a validation error names ``what`` (e.g. the file) and the fields.

    Raises:
        ConfigError: invalid content.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{what}: {exc}") from exc


def beside(config_path: str | Path, value: str) -> str:
    """``value`` as a path: unchanged when absolute, else resolved against the config file's folder."""
    return value if Path(value).is_absolute() else str((Path(config_path).parent / value).resolve())
