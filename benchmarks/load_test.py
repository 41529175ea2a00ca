"""Benchmark: the HTTP service under concurrent chat requests on loopback, per micro-batching window.

For each window in ``--windows-ms`` it starts ``symoe serve`` in a subprocess on 127.0.0.1 (the recorded
``replay`` pool, the ``tiny`` random-weight pool, or a pool YAML), sends ``--warmup`` untimed requests, then
``--requests`` chat requests with at most ``--concurrency`` in flight (httpx async), and reports requests/s,
latency mean/p50/p90/p99, lost requests (no 200 with one answer: must be 0) and the solve calls and mean
solve batch size read from ``/metrics``.

Usage::

    python benchmarks/load_test.py                                    # replay pool, windows 0, 20, 100 ms
    python benchmarks/load_test.py --pool tiny --requests 64 --output-json

The service runs in its own process, so the client's event loop does not share a GIL with it. Every
window asks questions new to the embedding cache, so no window profits from an earlier one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from orchestrator.bench.record import BenchmarkRecord, record_header
from orchestrator.bench.speed import benchmark_parser, config_from_args, percentile, write_result

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
KEY = "load-test-key"


class LoadConfig(BaseModel):
    """Settings of the service load test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool: str = Field(
        default="replay",
        description="'replay' (3 recorded experts: measures the service, not models), 'tiny' "
        "(configs/pools/tiny-cpu.yaml, random-weight models) or a pool YAML path.",
    )
    requests: int = Field(default=200, ge=1, description="Timed requests per window.")
    concurrency: int = Field(default=32, ge=1, description="Requests in flight at most.")
    warmup: int = Field(
        default=4, ge=0, description="Untimed sequential requests first (model loads, caches)."
    )
    windows_ms: str = Field(default="0,20,100", description="Comma-separated batch windows to compare.")
    max_batch_size: int = Field(default=64, ge=1, description="Most questions per solve call.")
    timeout_s: float = Field(
        default=120.0, gt=0, description="Per-request timeout; a timeout is a lost request."
    )
    max_seconds: float = Field(default=300.0, gt=0, description="Bound on one window's timed phase.")
    torch_threads: int = Field(
        default=1,
        ge=0,
        description="OMP_NUM_THREADS of the server (0: torch's default). One thread avoids OpenMP spinning "
        "against the client on a small CPU, which made figures swing several-fold.",
    )


class WindowResult(BaseModel):
    """One window's figures."""

    model_config = ConfigDict(extra="forbid")

    window_ms: float
    requests: int
    ok: int
    lost: int
    wall_s: float
    requests_per_s: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    solve_calls: int
    mean_solve_batch_size: float


class LoadResult(BenchmarkRecord):
    """The JSON record of one load test."""

    name: str = "service_load"
    device_name: str
    windows: list[WindowResult]


def _replay_pool(folder: Path) -> Path:
    """A pool of three recorded experts (answers keyed by question id; unknown ids come back missing)."""
    for name, letter in (("a", "A"), ("b", "B"), ("c", "A")):
        rows = [{"question_id": f"q{i}", "pred": None, "text": f"The answer is ({letter})"} for i in range(8)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    experts = [{"name": n, "engine": "replay", "recordings_dir": str(folder)} for n in "abc"]
    pool = {"name": "replay-3", "experts": experts, "policy": "random_k", "k": 3, "aggregation": "majority"}
    path = folder / "pool.yaml"
    path.write_text(json.dumps(pool))
    return path


def _pool_file(cfg: LoadConfig, folder: Path) -> Path:
    if cfg.pool == "replay":
        return _replay_pool(folder)
    if cfg.pool == "tiny":
        return ROOT / "configs" / "pools" / "tiny-cpu.yaml"
    return Path(cfg.pool)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(pool: Path, window_s: float, cfg: LoadConfig, folder: Path) -> Iterator[str]:
    """``symoe serve`` in a subprocess on loopback; yields its root URL once ``/ready`` answers 200."""
    port = _free_port()
    args = [sys.executable, "-m", "orchestrator.cli", "serve", "--pool", str(pool), "--port", str(port),
            "--batch-window-s", str(window_s), "--data-dir", str(folder / f"svc-{port}")]  # fmt: skip
    env = {**os.environ, "SYMOE_API_KEYS": KEY, "SYMOE_LOG_LEVEL": "WARNING"}
    if cfg.torch_threads:
        env["OMP_NUM_THREADS"] = str(cfg.torch_threads)
    log = (folder / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see {log.name}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{root}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become ready in 180 s")
            time.sleep(0.2)
        yield root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _solve_metrics(root: str) -> tuple[float, float]:
    """(solve calls, questions solved) so far, from ``/metrics``."""
    text = httpx.get(f"{root}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    values = {}
    for line in text.splitlines():
        for name in ("symoe_solve_batch_size_count", "symoe_solve_batch_size_sum"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("symoe_solve_batch_size_count", 0.0), values.get("symoe_solve_batch_size_sum", 0.0)


def _body(i: int, tag: str) -> dict[str, Any]:
    question = f"[{tag}] load test question {i}: what is {i} plus {i + 7}?"
    return {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}]}


async def _fire(root: str, cfg: LoadConfig, tag: str) -> tuple[list[float], int, float]:
    """Send the timed requests; returns (latencies of the good ones in s, good count, wall seconds)."""
    limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
    gate = asyncio.Semaphore(cfg.concurrency)
    latencies: list[float] = []
    ids: set[str] = set()
    async with httpx.AsyncClient(
        base_url=root, headers={"Authorization": f"Bearer {KEY}"}, timeout=cfg.timeout_s, limits=limits
    ) as client:

        async def one(i: int) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/chat/completions", json=_body(i, tag))
                except httpx.HTTPError as exc:
                    logger.warning("request %d lost: %r", i, exc)
                    return
                if r.status_code == 200 and len(r.json().get("choices", [])) == 1:
                    latencies.append(time.perf_counter() - start)
                    ids.add(r.json()["id"])
                else:
                    logger.warning("request %d lost: %d %s", i, r.status_code, r.text[:200])

        start = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(cfg.requests))), cfg.max_seconds)
        wall = time.perf_counter() - start
    return latencies, len(ids), wall


def run_window(pool: Path, window_ms: float, cfg: LoadConfig, folder: Path) -> WindowResult:
    """Start a server with this window, warm it up, fire the timed requests, read the solve metrics."""
    # questions new to every window: the embedding cache on disk would otherwise favour later windows
    tag = f"{uuid.uuid4().hex[:8]}-{window_ms:g}ms"
    with _server(pool, window_ms / 1000, cfg, folder) as root:
        for i in range(cfg.warmup):
            httpx.post(f"{root}/v1/chat/completions", json=_body(-1 - i, tag), timeout=cfg.timeout_s,
                       headers={"Authorization": f"Bearer {KEY}"}).raise_for_status()  # fmt: skip
        calls0, questions0 = _solve_metrics(root)
        latencies, ok, wall = asyncio.run(_fire(root, cfg, tag))
        calls1, questions1 = _solve_metrics(root)
    calls, solved = calls1 - calls0, questions1 - questions0
    ms = [1000 * x for x in latencies] or [float("nan")]
    return WindowResult(
        window_ms=window_ms,
        requests=cfg.requests,
        ok=ok,
        lost=cfg.requests - ok,
        wall_s=round(wall, 3),
        requests_per_s=round(ok / wall, 2),
        latency_mean_ms=round(sum(ms) / len(ms), 1),
        latency_p50_ms=round(percentile(ms, 50), 1),
        latency_p90_ms=round(percentile(ms, 90), 1),
        latency_p99_ms=round(percentile(ms, 99), 1),
        solve_calls=int(calls),
        mean_solve_batch_size=round(solved / calls, 2) if calls else 0.0,
    )


def run_load(cfg: LoadConfig) -> LoadResult:
    windows = [float(w) for w in cfg.windows_ms.split(",") if w.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="symoe-load-") as tmp:
        folder = Path(tmp)
        pool = _pool_file(cfg, folder)
        for w in windows:
            results.append(run_window(pool, w, cfg, folder))
    return LoadResult(
        **record_header(cfg, ("symbolic-moe", "fastapi", "uvicorn", "httpx", "torch")),
        device_name=f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
        windows=results,
    )


def load_table(result: LoadResult) -> Table:
    cfg = result.config
    table = Table(
        title=f"service load: pool {cfg['pool']}, {cfg['requests']} requests, "
        f"{cfg['concurrency']} in flight, {result.device_name}"
    )
    cols = (
        "window ms",
        "req/s",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "lost",
        "solve calls",
        "mean batch",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for w in result.windows:
        table.add_row(
            f"{w.window_ms:g}", f"{w.requests_per_s:.1f}", f"{w.latency_mean_ms:.0f}",
            f"{w.latency_p50_ms:.0f}", f"{w.latency_p90_ms:.0f}", f"{w.latency_p99_ms:.0f}", str(w.lost),
            str(w.solve_calls), f"{w.mean_solve_batch_size:.1f}",
        )  # fmt: skip
    return table


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], LoadConfig, "logging level")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(LoadConfig, args)
    console = Console(width=max(Console().width, 110))
    result = run_load(cfg)
    console.print(load_table(result))
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 1 if any(w.lost for w in result.windows) else 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
