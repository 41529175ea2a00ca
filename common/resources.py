"""Files shipped inside the installed package: configs, vocabularies, zoo weights and data.

The repository's top-level ``configs/`` is the source of truth. It holds data only (no ``__init__.py``);
setuptools installs it as package data in a ``configs`` folder beside ``zoo`` (whose ``weights/`` and
``data/`` are package data too), so paths inside the YAML files (``../../zoo/data/zoo_test.jsonl``,
``../skills/zoo_skills.yaml``) resolve the same in a checkout, an editable install and a wheel. Packages are
found with :mod:`importlib.resources`, never from ``__file__``; the configs folder is the one beside the
installed ``zoo`` package (not whatever ``configs`` folder comes first on ``sys.path``)::

    from common.resources import config_path, resolve_config
    config_path("bench", "zoo_demo.yaml")             # the packaged demo config
    resolve_config("configs/pools/zoo-cpu.yaml")      # this path if it exists, else the packaged one
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from common.errors import ConfigError

CONFIGS_PACKAGE = "configs"
"""The folder the repository's ``configs/`` is installed as, beside the ``zoo`` package."""


def package_path(package: str, *parts: str) -> Path:
    """A file or folder inside an installed package, as a filesystem path.

    Args:
        package: the package, e.g. ``"zoo"``.
        parts: the path inside it, e.g. ``"weights", "zoo-add"``.

    Raises:
        ConfigError: the package is not importable, or it is installed in a form with no files on disk
            (a zip), which the engines cannot read weights from.
    """
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"package data {package!r}: the package is not installed; reinstall symbolic-moe "
            "(pip install symbolic-moe, or pip install -e . in a checkout)"
        ) from exc
    target = root.joinpath(*parts)
    if not isinstance(target, Path):
        raise ConfigError(
            f"package data {package}/{'/'.join(parts)}: installed without files on disk "
            f"({type(target).__name__}); install symbolic-moe unzipped (pip install)"
        )
    return target


def config_path(*parts: str) -> Path:
    """A packaged config file or folder, e.g. ``config_path("pools", "zoo-cpu.yaml")``.

    ``configs`` is data, not a package: it is the folder beside the installed ``zoo`` package (the
    checkout's in a checkout or an editable install, site-packages' in a wheel install), which the
    relative paths inside the YAML files rely on.
    """
    return package_path("zoo").parent.joinpath(CONFIGS_PACKAGE, *parts)


def resolve_config(path: str | Path) -> Path:
    """``path`` as given when it exists; else, for a relative ``configs/...`` path, the packaged copy.

    So ``symoe run --pool configs/pools/zoo-cpu.yaml`` works outside a checkout too. Other paths come back
    unchanged (the caller's loader reports a missing file with its own context).
    """
    p = Path(path)
    if p.exists() or p.is_absolute() or not p.parts or p.parts[0] != CONFIGS_PACKAGE:
        return p
    packaged = config_path(*p.parts[1:])
    return packaged if packaged.exists() else p
