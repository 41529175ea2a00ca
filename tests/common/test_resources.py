"""Packaged files: ``configs/`` is data (no Python), found beside the installed ``zoo`` package."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.resources import config_path, package_path, resolve_config

ROOT = Path(__file__).resolve().parents[2]


def test_configs_hold_data_only() -> None:
    assert not list((ROOT / "configs").rglob("*.py")), "configs/ holds YAML and JSON only"


def test_config_path_is_the_folder_beside_zoo() -> None:
    pool = config_path("pools", "zoo-cpu.yaml")
    assert pool.is_file()
    assert pool.parents[2] == package_path("zoo").parent
    assert config_path("pools").is_dir()


def test_another_configs_folder_first_on_sys_path_does_not_shadow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "configs" / "pools"
    decoy.mkdir(parents=True)
    (decoy / "zoo-cpu.yaml").write_text("name: decoy\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert config_path("pools", "zoo-cpu.yaml").read_text(encoding="utf-8") != "name: decoy\n"
    assert config_path("pools", "zoo-cpu.yaml").parents[2] == package_path("zoo").parent


def test_resolve_config_falls_back_to_the_packaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert resolve_config("configs/pools/zoo-cpu.yaml") == config_path("pools", "zoo-cpu.yaml")
    assert resolve_config("configs/pools/missing.yaml") == Path("configs/pools/missing.yaml")
