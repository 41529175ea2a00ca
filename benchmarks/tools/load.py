"""The HTTP service under concurrent chat requests on loopback: req/s, latency, model loads per row.

For each (session mode, micro-batching window, requests in flight) it starts ``symoe serve`` in a
subprocess on 127.0.0.1, sends ``warmup`` untimed requests, then ``requests`` chat requests with at most
that many in flight (httpx async), and reads from ``/metrics`` the solve calls, their mean batch, the model
loads and the engines' generation seconds during the timed requests. ``compare_per_call`` runs every row
twice: with the service's long-lived session, and with a session per solve call (the behaviour before
sessions: every call loads its models). Lost requests (no 200 with one answer) must be 0.

The service runs in its own process, so the client's event loop does not share a GIL with it.
"""

from __future__ import annotations

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
from rich.table import Table

from benchmarks.tools.speed import percentile
from common.resources import config_path
from orchestrator.bench.record import BenchmarkRecord, record_header
from zoo.tasks import ZOO_DATA_DIR

logger = logging.getLogger(__name__)

KEY = "load-test-key"


class LoadConfig(BaseModel):
    """Settings of the service load test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool: str = Field(
        default="replay",
        description="'replay' (3 recorded experts: measures the service, not models), 'tiny' "
        "(configs/pools/tiny-cpu.yaml, random-weight models), 'zoo' (configs/pools/zoo-cpu.yaml, the "
        "trained skill zoo, asked the zoo's test questions) or a pool YAML path.",
    )
    requests: int = Field(default=200, ge=1, description="Timed requests per row.")
    concurrency: str = Field(
        default="32", description="Comma-separated requests in flight at most, e.g. 1,4,16."
    )
    compare_per_call: bool = Field(
        default=False,
        description="Also run each row with a session per solve call (models load every call, as before "
        "sessions) beside the long-lived session, in the same run.",
    )
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

    session: str = Field(description="'persistent' (one session) or 'per_call' (a session per solve call).")
    window_ms: float
    concurrency: int
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
    model_loads: int = Field(description="Model loads during the timed requests (from /metrics).")
    generation_s_per_request: float = Field(
        description="Engine generation seconds per answered request (the recruited experts' own time)."
    )


class LoadResult(BenchmarkRecord):
    """The JSON record of one load test."""

    name: str = "service_load"
    device_name: str
    windows: list[WindowResult]

    def throughput_ratio(self, concurrency: int) -> float | None:
        """Persistent over per-call requests/s at ``concurrency`` (the first window), when both ran."""
        rows = {w.session: w for w in self.windows if w.concurrency == concurrency}
        if {"persistent", "per_call"} <= set(rows) and rows["per_call"].requests_per_s > 0:
            return rows["persistent"].requests_per_s / rows["per_call"].requests_per_s
        return None


def _replay_pool(folder: Path) -> Path:
    """A pool of three recorded experts (answers keyed by question id; unknown ids come back missing)."""
    for name, letter in (("a", "A"), ("b", "B"), ("c", "A")):
        rows = [{"question_id": f"q{i}", "pred": None, "text": f"The answer is ({letter})"} for i in range(8)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    experts = [{"name": n, "engine": "replay", "recordings_dir": str(folder)} for n in "abc"]
    method = {"policy": "random_k", "k": 3, "aggregation": "majority"}
    pool = {"name": "replay-3", "experts": experts, "method": method}
    path = folder / "pool.yaml"
    path.write_text(json.dumps(pool))
    return path


def _pool_file(cfg: LoadConfig, folder: Path) -> Path:
    if cfg.pool == "replay":
        return _replay_pool(folder)
    if cfg.pool in ("tiny", "zoo"):
        return config_path("pools", f"{cfg.pool}-cpu.yaml")
    return Path(cfg.pool)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(pool: Path, window_s: float, cfg: LoadConfig, folder: Path, per_call: bool) -> Iterator[str]:
    """``symoe serve`` in a subprocess on loopback; yields its root URL once ``/ready`` answers 200."""
    port = _free_port()
    args = [sys.executable, "-m", "orchestrator.cli", "serve", "--pool", str(pool), "--port", str(port),
            "--batch-window-s", str(window_s), "--data-dir", str(folder / f"svc-{port}")]  # fmt: skip
    if per_call:
        args.append("--session-per-call")
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


def service_metrics(root: str) -> dict[str, float]:
    """Solve calls, questions solved, model loads and generation seconds so far, from ``/metrics``."""
    text = httpx.get(f"{root}/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).text
    wanted = {
        "symoe_solve_batch_size_count": "calls",
        "symoe_solve_batch_size_sum": "questions",
        "symoe_model_loads_total": "loads",
        "symoe_generation_seconds_total": "generation_s",
    }
    out = dict.fromkeys(wanted.values(), 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted and not line.startswith("#"):
            out[wanted[name]] += float(line.rsplit(" ", 1)[1])  # labelled series add up per model
    return out


def _questions(cfg: LoadConfig) -> list[str] | None:
    """The zoo pool's questions (its test split, warm in the embedding cache for every row alike)."""
    if cfg.pool != "zoo":
        return None
    rows = [json.loads(line) for line in (ZOO_DATA_DIR / "zoo_test.jsonl").read_text().splitlines()]
    return [r["question"] for r in rows]


def _body(i: int, tag: str, questions: list[str] | None) -> dict[str, Any]:
    if questions:
        question = questions[i % len(questions)]
    else:
        question = f"[{tag}] load test question {i}: what is {i} plus {i + 7}?"
    return {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}]}


async def _fire(
    root: str, cfg: LoadConfig, concurrency: int, tag: str, questions: list[str] | None
) -> tuple[list[float], int, float]:
    """Send the timed requests; returns (latencies of the good ones in s, good count, wall seconds)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ids: set[str] = set()
    async with httpx.AsyncClient(
        base_url=root, headers={"Authorization": f"Bearer {KEY}"}, timeout=cfg.timeout_s, limits=limits
    ) as client:

        async def one(i: int) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/chat/completions", json=_body(i, tag, questions))
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


def run_row(pool: Path, window_ms: float, concurrency: int, per_call: bool, cfg: LoadConfig,
            folder: Path) -> WindowResult:  # fmt: skip
    """Start a server, warm it up, fire the timed requests, read the service's metrics around them."""
    # questions new to every row: the embedding cache on disk would otherwise favour later rows
    tag = f"{uuid.uuid4().hex[:8]}-{window_ms:g}ms"
    questions = _questions(cfg)
    with _server(pool, window_ms / 1000, cfg, folder, per_call) as root:
        for i in range(cfg.warmup):
            body = _body(-1 - i, tag, questions)
            httpx.post(f"{root}/v1/chat/completions", json=body, timeout=cfg.timeout_s,
                       headers={"Authorization": f"Bearer {KEY}"}).raise_for_status()  # fmt: skip
        before = service_metrics(root)
        latencies, ok, wall = asyncio.run(_fire(root, cfg, concurrency, tag, questions))
        after = service_metrics(root)
    delta = {k: after[k] - before[k] for k in after}
    ms = [1000 * x for x in latencies] or [float("nan")]
    return WindowResult(
        session="per_call" if per_call else "persistent",
        window_ms=window_ms,
        concurrency=concurrency,
        requests=cfg.requests,
        ok=ok,
        lost=cfg.requests - ok,
        wall_s=round(wall, 3),
        requests_per_s=round(ok / wall, 2),
        latency_mean_ms=round(sum(ms) / len(ms), 1),
        latency_p50_ms=round(percentile(ms, 50), 1),
        latency_p90_ms=round(percentile(ms, 90), 1),
        latency_p99_ms=round(percentile(ms, 99), 1),
        solve_calls=int(delta["calls"]),
        mean_solve_batch_size=round(delta["questions"] / delta["calls"], 2) if delta["calls"] else 0.0,
        model_loads=int(delta["loads"]),
        generation_s_per_request=round(delta["generation_s"] / max(ok, 1), 4),
    )


def run_load(cfg: LoadConfig) -> LoadResult:
    """Every (session mode, window, concurrency) row, each on a fresh server."""
    windows = [float(w) for w in cfg.windows_ms.split(",") if w.strip()]
    levels = [int(c) for c in cfg.concurrency.split(",") if c.strip()]
    modes = [False, True] if cfg.compare_per_call else [False]
    results = []
    with tempfile.TemporaryDirectory(prefix="symoe-load-") as tmp:
        folder = Path(tmp)
        pool = _pool_file(cfg, folder)
        for w in windows:
            for c in levels:
                for per_call in modes:
                    results.append(run_row(pool, w, c, per_call, cfg, folder))
    return LoadResult(
        **record_header(cfg, ("symbolic-moe", "fastapi", "uvicorn", "httpx", "torch")),
        device_name=f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
        windows=results,
    )


def load_table(result: LoadResult) -> Table:
    cfg = result.config
    table = Table(title=f"service load: pool {cfg['pool']}, {cfg['requests']} requests, {result.device_name}")
    cols = (
        "session",
        "window ms",
        "in flight",
        "req/s",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "lost",
        "solve calls",
        "mean batch",
        "model loads",
        "gen s/req",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for w in result.windows:
        table.add_row(
            w.session, f"{w.window_ms:g}", str(w.concurrency), f"{w.requests_per_s:.1f}",
            f"{w.latency_mean_ms:.0f}", f"{w.latency_p50_ms:.0f}", f"{w.latency_p90_ms:.0f}",
            f"{w.latency_p99_ms:.0f}", str(w.lost), str(w.solve_calls), f"{w.mean_solve_batch_size:.1f}",
            str(w.model_loads), f"{w.generation_s_per_request:.3f}",
        )  # fmt: skip
    return table
