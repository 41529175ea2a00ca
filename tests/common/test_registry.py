"""The generic registry: decorator and direct registration, lazy targets, errors."""

from __future__ import annotations

import pytest

from common.errors import RegistryError
from common.registry import Registry


class Base:
    pass


def test_decorator_and_direct_registration() -> None:
    reg: Registry[type[Base]] = Registry("thing", base_cls=Base)

    @reg.register("alpha")
    class Alpha(Base):
        pass

    class Beta(Base):
        pass

    reg.register("beta", Beta)
    assert reg.get("alpha") is Alpha and reg.get("beta") is Beta
    assert reg.keys() == ["alpha", "beta"]


def test_unknown_key_suggests_close_matches() -> None:
    reg: Registry[type[Base]] = Registry("engine", base_cls=Base)
    reg.register("transformers", type("T", (Base,), {}))
    with pytest.raises(RegistryError, match=r"Did you mean 'transformers'.*Available: transformers"):
        reg.get("transformer")


def test_conflicting_registration_and_base_class_checks() -> None:
    reg: Registry[type[Base]] = Registry("thing", base_cls=Base)
    reg.register("a", type("A", (Base,), {}))
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", type("B", (Base,), {}))
    with pytest.raises(RegistryError, match="not a subclass"):
        reg.register("c", int)  # type: ignore[arg-type]


def test_lazy_target_is_imported_on_first_get() -> None:
    reg: Registry[type] = Registry("thing")
    reg.register("ordered", target="collections:OrderedDict")
    from collections import OrderedDict

    assert reg.get("ordered") is OrderedDict


def test_frozen_registry_rejects_new_keys() -> None:
    reg: Registry[type] = Registry("thing")
    reg.freeze()
    with pytest.raises(RegistryError, match="frozen"):
        reg.register("x", int)


def test_engine_registry_does_not_import_heavy_backends() -> None:
    import subprocess
    import sys

    code = "import batching, orchestrator.policies, sys; print('torch' in sys.modules, 'vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
