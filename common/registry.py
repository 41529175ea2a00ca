"""A generic name -> implementation registry, usable as a decorator or a direct call.

Example::

    engine_registry: Registry[type[Engine]] = Registry("engine", base_cls=Engine)
    engine_registry.register("vllm", target="batching.engines.vllm_engine:VLLMEngine")  # lazy

    @engine_registry.register("replay")
    class ReplayEngine(Engine): ...

    cls = engine_registry.get("replay")

Lazy targets (``"module:attr"`` strings) are imported on first ``get``, so importing a package never
imports heavy backends such as vLLM or torch.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Generic, TypeVar

from common.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps snake_case keys to objects (usually classes).

    Args:
        kind: what the registry holds, used in error messages ("engine", "policy").
        base_cls: when given, every registered class must subclass it.
    """

    def __init__(self, kind: str, base_cls: type | None = None) -> None:
        self.kind = kind
        self.base_cls = base_cls
        self._items: dict[str, T | str] = {}
        self._frozen = False

    def register(self, name: str, target: T | str | None = None) -> Any:
        """Register ``target`` under ``name``; without a target, return a decorator."""
        if target is None:

            def decorator(obj: T) -> T:
                self._add(name, obj)
                return obj

            return decorator
        self._add(name, target)
        return target

    def _add(self, name: str, target: T | str) -> None:
        if self._frozen:
            raise RegistryError(f"{self.kind} registry is frozen; cannot register {name!r}")
        existing = self._items.get(name)
        if existing is not None and existing is not target:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered to {existing!r}; pick another name"
            )
        if not isinstance(target, str):
            self._check_base(name, target)
        self._items[name] = target

    def _check_base(self, name: str, obj: Any) -> None:
        if self.base_cls is not None and not (isinstance(obj, type) and issubclass(obj, self.base_cls)):
            base = self.base_cls.__name__
            raise RegistryError(f"{self.kind} {name!r}: {obj!r} is not a subclass of {base}")

    def get(self, name: str) -> T:
        """Return the object registered under ``name``, importing it if it was registered lazily.

        Raises:
            RegistryError: unknown name, with close matches and the available keys.
        """
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(sorted(self._items)) or 'none'}"
            )
        item = self._items[name]
        if isinstance(item, str):
            module_name, _, attr = item.partition(":")
            obj = getattr(importlib.import_module(module_name), attr)
            self._check_base(name, obj)
            self._items[name] = obj
            return obj  # type: ignore[no-any-return]
        return item

    def keys(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def freeze(self) -> None:
        self._frozen = True

    def copy(self) -> Registry[T]:
        new: Registry[T] = Registry(self.kind, self.base_cls)
        new._items = dict(self._items)
        return new
