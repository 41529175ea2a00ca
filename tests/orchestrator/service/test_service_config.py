"""`ServiceConfig`: what `create_app` builds the service from (the pool or its path, settings, secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from common.errors import ConfigError
from orchestrator.pool import load_pool_config
from orchestrator.service.batch_files import DEFAULT_DATA_DIR
from orchestrator.service.config import ServiceConfig

POOL = Path(__file__).resolve().parents[3] / "configs" / "pools" / "tiny-cpu.yaml"


def test_pool_path_is_loaded_like_the_pool_config() -> None:
    from_path = ServiceConfig(pool=POOL)  # type: ignore[arg-type]  # a path is loaded when validated
    assert from_path.pool == load_pool_config(POOL)
    given = load_pool_config(POOL)
    assert ServiceConfig(pool=given).pool is given
    assert ServiceConfig.model_validate({"pool": given.model_dump()}).pool == given
    # a pool built in code is taken as it is, as create_app took it (not validated again)
    twins = given.model_copy(
        update={"experts": [e.model_copy(update={"model": "tiny:x"}) for e in given.experts]}
    )
    assert ServiceConfig(pool=twins).pool is twins


def test_defaults_are_create_apps_former_defaults() -> None:
    cfg = ServiceConfig(pool=POOL)  # type: ignore[arg-type]
    assert (cfg.api_keys, cfg.batch_window_s, cfg.max_batch_size, cfg.max_body_bytes) == (
        (),
        0.02,
        64,
        1_000_000,
    )
    assert (cfg.rate_limit_per_min, cfg.embedder, cfg.data_dir, cfg.store_path) == (
        None,
        None,
        DEFAULT_DATA_DIR,
        None,
    )
    assert (cfg.max_upload_bytes, cfg.session_per_call, cfg.public_metrics) == (50_000_000, False, False)


def test_api_keys_never_show_in_repr_or_dump() -> None:
    cfg = ServiceConfig(pool=POOL, api_keys=["sk-service-secret-1"])  # type: ignore[arg-type, list-item]
    assert cfg.keys() == ["sk-service-secret-1"]
    assert "sk-service-secret-1" not in repr(cfg)
    assert "sk-service-secret-1" not in cfg.model_dump_json()


def test_unknown_fields_bad_bounds_and_missing_pool_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="extra"):
        ServiceConfig(pool=POOL, batch_window=0.1)  # type: ignore[arg-type, call-arg]
    with pytest.raises(ValidationError, match="max_batch_size"):
        ServiceConfig(pool=POOL, max_batch_size=0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="rate_limit_per_min"):
        ServiceConfig(pool=POOL, rate_limit_per_min=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="missing.yaml"):
        ServiceConfig(pool=tmp_path / "missing.yaml")  # type: ignore[arg-type]
