"""`symoe serve`: a pool behind the OpenAI-compatible HTTP service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from common.errors import SymbolicMoEError
from common.extras import require_extra
from orchestrator.cli.main import VerboseOption, app, console, err_console, fail, route_logs


@app.command()
def serve(
    pool: Annotated[Path, typer.Option("--pool", metavar="YAML", help="Pool config")],
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Interface; loopback only unless API keys are set")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port", min=0, max=65535)] = 8000,
    batch_window_s: Annotated[
        float, typer.Option(metavar="S", help="Micro-batching window (adds up to this latency)", min=0)
    ] = 0.02,
    rate_limit_per_min: Annotated[
        int | None, typer.Option(metavar="N", help="Requests per key per minute [default: no limit]", min=1)
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(metavar="BYTES", help="Largest request body", min=1)
    ] = 1_000_000,
    max_upload_bytes: Annotated[
        int, typer.Option(metavar="BYTES", help="Largest batch file upload", min=1)
    ] = 50_000_000,
    data_dir: Annotated[Path, typer.Option(metavar="DIR", help="Batch files and records")] = Path(
        "$SYMOE_HOME/service"
    ),
    store: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Run store of batch runs [default: DATA_DIR/runs.sqlite]"),
    ] = None,
    public_metrics: Annotated[
        bool, typer.Option("--public-metrics", help="Serve /metrics without an API key")
    ] = False,
    session_per_call: Annotated[
        bool, typer.Option(hidden=True, help="Load models per call (for the load test's comparison)")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Serve a pool as an OpenAI-compatible API (keys from SYMOE_API_KEYS, comma-separated).

    Batch jobs (/v1/files, /v1/batches) keep their files under --data-dir; batches a crash left
    unfinished resume at startup from the run store. /metrics needs a key like the API unless
    --public-metrics. Prints the address, then an access log; third-party logs go to the log file.
    """
    try:
        require_extra("serve", "symoe serve")
    except SymbolicMoEError as exc:
        fail(exc)
    route_logs("serve", verbose=verbose, show=("uvicorn",), screen_level="INFO")
    import uvicorn
    from pydantic import SecretStr

    from orchestrator.pool import load_pool_config
    from orchestrator.service.app import bind_host, create_app
    from orchestrator.service.config import ServiceConfig

    keys = [k.strip() for k in os.environ.get("SYMOE_API_KEYS", "").split(",") if k.strip()]
    bound = bind_host(host, keys)
    if bound != host:
        err_console.print(f"[yellow]no API keys (SYMOE_API_KEYS): serving on {bound} only[/]")
    try:
        config = ServiceConfig(
            pool=load_pool_config(pool),
            api_keys=tuple(SecretStr(k) for k in keys),
            batch_window_s=batch_window_s,
            rate_limit_per_min=rate_limit_per_min,
            max_body_bytes=max_body_bytes,
            max_upload_bytes=max_upload_bytes,
            data_dir=data_dir,
            store_path=store,
            session_per_call=session_per_call,
            public_metrics=public_metrics,
        )
        api = create_app(config)
    except SymbolicMoEError as exc:
        fail(exc)
    cfg = config.pool
    auth = f"bearer API keys ({len(keys)})" if keys else "none (no SYMOE_API_KEYS; loopback only)"
    metrics = "public" if public_metrics else "needs a key" if keys else "open (no keys)"
    console.print(
        f"serving pool {escape(cfg.name)} ({len(cfg.experts)} experts, {cfg.method.policy}) on "
        f"http://{bound}:{port}/v1; auth: {auth}; /metrics: {metrics}; loading models, "
        "then 'ready' (GET /ready)",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(api, host=bound, port=port, log_config=None)
