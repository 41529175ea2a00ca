"""`symoe serve`: a pool behind the OpenAI-compatible HTTP service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from common.errors import SymbolicMoEError
from common.extras import require_extra
from orchestrator.cli.main import app, console, fail, quiet_transformers


@app.command()
def serve(
    pool: Annotated[Path, typer.Option("--pool", help="Pool YAML")],
    host: Annotated[str, typer.Option(help="Interface; loopback only unless API keys are set")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    batch_window_s: Annotated[
        float, typer.Option(help="Micro-batching window (adds up to this latency)")
    ] = 0.02,
    rate_limit_per_min: Annotated[int | None, typer.Option(help="Requests per key per minute")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body")] = 1_000_000,
    max_upload_bytes: Annotated[int, typer.Option(help="Largest batch file upload")] = 50_000_000,
    data_dir: Annotated[
        Path, typer.Option(help="Batch files and records (default ~/.cache/symbolic-moe/service)")
    ] = Path("~/.cache/symbolic-moe/service"),
    store: Annotated[
        Path | None, typer.Option(help="Run store journaling batch runs (default DATA_DIR/runs.sqlite)")
    ] = None,
    session_per_call: Annotated[
        bool, typer.Option(hidden=True, help="Load models per call (for the load test's comparison)")
    ] = False,
) -> None:
    """Serve a pool as an OpenAI-compatible API (keys from SYMOE_API_KEYS, comma-separated).

    Batch jobs (/v1/files, /v1/batches) keep their files under --data-dir; batches a crash left unfinished
    resume at startup from the run store.
    """
    try:
        require_extra("serve", "symoe serve")
    except SymbolicMoEError as exc:
        fail(exc)
    import uvicorn

    from orchestrator.pool import load_pool_config
    from orchestrator.service.app import bind_host, create_app

    quiet_transformers()
    keys = [k.strip() for k in os.environ.get("SYMOE_API_KEYS", "").split(",") if k.strip()]
    bound = bind_host(host, keys)
    if bound != host:
        console.print(f"[yellow]no API keys (SYMOE_API_KEYS): serving on {bound} only[/]")
    try:
        api = create_app(
            load_pool_config(pool),
            api_keys=keys,
            batch_window_s=batch_window_s,
            rate_limit_per_min=rate_limit_per_min,
            max_body_bytes=max_body_bytes,
            max_upload_bytes=max_upload_bytes,
            data_dir=data_dir,
            store_path=store,
            session_per_call=session_per_call,
        )
    except SymbolicMoEError as exc:
        fail(exc)
    uvicorn.run(api, host=bound, port=port, log_config=None)
