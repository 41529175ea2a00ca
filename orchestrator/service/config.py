"""`ServiceConfig`: everything :func:`~orchestrator.service.app.create_app` builds the HTTP service from.

``symoe serve`` builds one from its options (and ``SYMOE_API_KEYS``); tests, benchmarks and embedding
applications build one in code::

    config = ServiceConfig(pool="configs/pools/tiny-cpu.yaml", api_keys=["secret"], data_dir="svc")
    app = create_app(config)

``pool`` takes a :class:`~orchestrator.pool.PoolConfig` or the path of a pool YAML (loaded, and checked,
when the config is built). API keys are secrets: they never appear in the config's repr or dump.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidatorFunctionWrapHandler, field_validator

from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.service.batch_files import DEFAULT_DATA_DIR
from skills.embedding import Embedder

__all__ = ["ServiceConfig"]


class ServiceConfig(BaseModel):
    """The HTTP service's settings: the pool it serves, auth, limits, micro-batching and storage."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    pool: PoolConfig = Field(
        description="The pool config (or the path of its YAML, loaded when the config is built); its "
        "models are resolved at startup (`/ready` says when).",
    )
    api_keys: tuple[SecretStr, ...] = Field(
        default=(),
        description="Accepted bearer keys; empty accepts every request (bind loopback only: `bind_host`).",
    )
    batch_window_s: float = Field(
        default=0.02,
        ge=0,
        description="How long the first queued question waits for others to join its solve call.",
    )
    max_batch_size: int = Field(default=64, ge=1, description="The most questions in one solve call.")
    max_body_bytes: int = Field(default=1_000_000, ge=1, description="Larger request bodies get 413.")
    rate_limit_per_min: int | None = Field(
        default=None,
        ge=1,
        description="Requests per key per minute on `/v1/*` (429 beyond); `None` for no limit.",
    )
    embedder: Embedder | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="The question embedder shared by every solve call (a cached MiniLM by default); "
        "set in code only.",
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where batch input/output files and batch records live (created if missing).",
    )
    store_path: Path | None = Field(
        default=None,
        description="The run store that journals batch runs; `data_dir/runs.sqlite` by default.",
    )
    max_upload_bytes: int = Field(
        default=50_000_000, ge=1, description="Larger uploads to `/v1/files` get 413."
    )
    session_per_call: bool = Field(
        default=False,
        description="Open and close a session per solve call (models load every call) instead of keeping "
        "one; only for measuring the difference (`benchmarks/load_test.py --compare-per-call`).",
    )
    public_metrics: bool = Field(
        default=False,
        description="Serve `/metrics` without an API key (for a Prometheus scraper without one); by "
        "default it needs a key like the API.",
    )

    @field_validator("pool", mode="wrap")
    @classmethod
    def _load_pool(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A ``PoolConfig`` is taken as it is (not validated again, as ``create_app`` took it); a path
        (``str`` or ``Path``) is a pool YAML, loaded (``ConfigError`` names the file); a mapping is a pool."""
        if isinstance(value, PoolConfig):
            return value
        if isinstance(value, str | Path):
            return load_pool_config(value)
        return handler(value)

    def keys(self) -> list[str]:
        """The API keys as plain strings (for the key checker only; never log them)."""
        return [k.get_secret_value() for k in self.api_keys]
