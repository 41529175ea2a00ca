"""Run an ASGI app with uvicorn in a daemon thread on 127.0.0.1: `serve_in_thread`.

For tests, benchmarks and notebooks that need a real HTTP server in-process (the pool service of
:mod:`~orchestrator.service.app`, the engine stub of :mod:`~orchestrator.service.openai_stub`)::

    with serve_in_thread(create_app(config)) as (base_url, stop):  # "http://127.0.0.1:<port>/v1"
        httpx.get(base_url + "/models")
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from common.errors import SymbolicMoEError

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    start_timeout_s: float = 10.0,
    access_log: bool = False,
) -> Iterator[tuple[str, Callable[[], None]]]:
    """Run ``app`` with uvicorn in a daemon thread; yields ``(base_url, stop_fn)`` and stops on exit.

    Args:
        app: the ASGI app.
        host: interface to bind; loopback by default, so nothing outside this machine can connect.
        port: TCP port; 0 picks a free one.
        start_timeout_s: how long to wait for the server to accept connections.
        access_log: log each request to the ``uvicorn.access`` logger (at INFO), as ``symoe serve`` does.

    Raises:
        SymbolicMoEError: the server did not start in time.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # log_config=None: library code never configures logging; uvicorn logs through its own loggers.
    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            stop()
            raise SymbolicMoEError(f"serve_in_thread: uvicorn did not start on {host}:{bound_port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}/v1", stop
    finally:
        stop()
