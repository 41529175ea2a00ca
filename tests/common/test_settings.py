"""SYMOE_HOME: one root for every cache and store, resolved when a default is used (not at import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from common.resources import config_path
from common.settings import HOME_VAR, expand_path, home_path, load_settings, restore_env, symoe_home


def test_home_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert symoe_home() == tmp_path / "me" / ".cache" / "symbolic-moe"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert symoe_home() == tmp_path / "xdg" / "symbolic-moe"
    monkeypatch.setenv("SYMOE_HOME", "~/symoe")
    assert symoe_home() == tmp_path / "me" / "symoe"
    assert load_settings().home == Path("~/symoe")
    monkeypatch.setenv("SYMOE_HOME", "")  # empty counts as unset
    assert symoe_home() == tmp_path / "xdg" / "symbolic-moe"


def test_expand_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path))
    assert expand_path(HOME_VAR) == tmp_path
    assert expand_path(f"{HOME_VAR}/runs.sqlite") == tmp_path / "runs.sqlite" == home_path("runs.sqlite")
    assert expand_path("rel/x") == Path("rel/x")
    assert expand_path(f"{HOME_VAR}_NOT/x") == Path(f"{HOME_VAR}_NOT/x")  # only the exact variable
    monkeypatch.setenv("SYMOE_HOME", str(tmp_path / "later"))  # read at call time
    assert expand_path(f"{HOME_VAR}/kb") == tmp_path / "later" / "kb"


def test_defaults_land_under_symoe_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, minilm: Any, tiny_pool: dict[str, Path]
) -> None:
    """A run store, an embedding cache, a profile, tiny models, the service's and the knowledge store's
    folders: each default lands under SYMOE_HOME, set after the modules were imported."""
    from batching.journal.store import RunStore
    from orchestrator import SymbolicMoE
    from orchestrator.pool import load_pool_config
    from skills.embedding import Embedder
    from zoo.tiny import ensure_tiny_pool

    home = tmp_path / "home"
    monkeypatch.setenv("SYMOE_HOME", str(home))

    RunStore().close()
    assert (home / "runs.sqlite").is_file()

    embedder = Embedder(model=minilm)
    embedder.embed(["Where do the embeddings go?"])
    assert any((home / "embeddings").rglob("*.npz")), "no embedding chunk under SYMOE_HOME/embeddings"

    assert set(ensure_tiny_pool()) == set(tiny_pool)
    assert all((home / "tiny-models" / name).is_dir() for name in tiny_pool)

    pool = load_pool_config(config_path("pools", "tiny-cpu.yaml"))  # tiny models: SYMOE_HOME/tiny-models
    val = [{"question": f"What is {i} plus 1?", "options": [str(i + 1), "0"], "answer": "A"} for i in (1, 2)]
    with SymbolicMoE(pool, embedder=embedder) as moe:
        moe.profile(val)
    assert (home / "profiles" / f"{pool.name}.json").is_file()


def test_service_and_kb_under_symoe_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    pytest.importorskip("lancedb", reason="the retrieval extra is not installed")
    from orchestrator.retrieval.config import KnowledgeConfig
    from orchestrator.retrieval.store import KnowledgeStore
    from orchestrator.service.batch_files import DEFAULT_DATA_DIR, BatchCatalog

    home = tmp_path / "home"
    monkeypatch.setenv("SYMOE_HOME", str(home))
    catalog = BatchCatalog(DEFAULT_DATA_DIR)
    catalog.close()
    assert catalog.data_dir == home / "service" and (home / "service").is_dir()
    KnowledgeStore.open(KnowledgeConfig(), create=True)
    assert (home / "kb").is_dir()


def test_restore_env_sets_back_a_value_and_unsets_what_was_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMOE_TEST_RESTORE", "changed")
    restore_env("SYMOE_TEST_RESTORE", "before")
    assert os.environ["SYMOE_TEST_RESTORE"] == "before"
    restore_env("SYMOE_TEST_RESTORE", None)
    assert "SYMOE_TEST_RESTORE" not in os.environ
    restore_env("SYMOE_TEST_RESTORE", None)  # already unset: nothing to do
    assert "SYMOE_TEST_RESTORE" not in os.environ
