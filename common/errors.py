"""The project's one exception hierarchy.

::

    SymbolicMoEError
      ConfigError          bad YAML/env, raised at load time, before any model work
        MissingExtraError  an optional part's packages are not installed; names the pip extra
      DataError            a malformed dataset row or file (names file and line)
      RegistryError        unknown key; lists choices + "did you mean"
      RoutingError         no expert satisfies the policy
      ResidencyError       model cannot fit on any worker
      EngineError
        EngineUnavailableError   retryable (HTTP 5xx, timeout, worker restarting)
        EngineDeadError          fatal; always propagates
        GenerationError          one request failed; recorded if the stage allows it
          ContextLengthError     the prompt does not fit the model's context
      ReplayMissError      no recorded output for this request key

Errors carry context (engine, model, request id, stage) where they have it, and messages name the place,
the value and the fix.
"""

from __future__ import annotations


class SymbolicMoEError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(SymbolicMoEError):
    """A configuration value is missing or invalid."""


class MissingExtraError(ConfigError, ImportError):
    """An optional part of the package needs a pip extra that is not installed.

    Also an :class:`ImportError`, so code that guards an optional import keeps working.

    Args:
        message: what needs the extra, what is missing and the ``pip install`` command.
        extra: the extra's name, e.g. ``"serve"``.
    """

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class DataError(SymbolicMoEError):
    """A dataset file or row cannot be read.

    Args:
        message: what is wrong and how to fix it.
        path: the file, when known.
        line: the 1-based line (or row) number, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


class RegistryError(SymbolicMoEError, KeyError):
    """Unknown or conflicting registry key."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class RoutingError(SymbolicMoEError):
    """No expert satisfies the routing policy."""


class ResidencyError(SymbolicMoEError):
    """A model cannot fit in the memory budget."""


class EngineError(SymbolicMoEError):
    """An engine failed.

    Args:
        message: what failed.
        engine: the engine's registry key.
        model: the model name or path.
        request_id: the request that failed, when it is one request.
        stage: the pipeline stage.
    """

    def __init__(
        self,
        message: str,
        *,
        engine: str | None = None,
        model: str | None = None,
        request_id: str | None = None,
        stage: str | None = None,
    ) -> None:
        ctx = ", ".join(
            f"{k}={v}"
            for k, v in (("engine", engine), ("model", model), ("request_id", request_id), ("stage", stage))
            if v is not None
        )
        super().__init__(f"{message} ({ctx})" if ctx else message)
        self.engine = engine
        self.model = model
        self.request_id = request_id
        self.stage = stage


class EngineUnavailableError(EngineError):
    """Retryable engine failure (HTTP 5xx, timeout, worker restarting)."""


class EngineDeadError(EngineError):
    """Fatal engine failure; always propagates."""


class GenerationError(EngineError):
    """One request failed."""


class ContextLengthError(GenerationError):
    """A prompt does not fit the model's context; the message names the limit."""


class ReplayMissError(SymbolicMoEError):
    """No recorded output exists for a request."""
