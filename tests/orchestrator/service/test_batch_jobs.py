"""Batch jobs on a real uvicorn server (127.0.0.1) with a real SQLite run store: upload, create, poll,
download; the openai client; cancel; auth; per-key ownership; live counts; expiry; path traversal;
malformed uploads; SIGKILL mid-batch and resume."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from batching.journal.store import RunStore
from common.errors import ConfigError
from orchestrator.pool import PoolConfig, load_pool_config
from orchestrator.service.app import chat_codec, create_app
from orchestrator.service.auth import ANONYMOUS
from orchestrator.service.batch_files import OPEN, BatchCatalog, BatchCreateRequest, ConflictError, now_s
from orchestrator.service.batch_jobs import ChatCodec, cancel_batch, new_batch
from orchestrator.service.batch_worker import BatchWorker, answered_questions
from orchestrator.service.config import ServiceConfig
from orchestrator.service.thread_server import serve_in_thread
from skills.embedding import Embedder

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"
KEY = "batch-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
OTHER_KEY = "other-batch-key"
OTHER = {"Authorization": f"Bearer {OTHER_KEY}"}
N_QUESTIONS = 12
LETTERS = "ABCD"


def _gold(i: int) -> str:
    return LETTERS[(i * 7) % 4]


@pytest.fixture(scope="module")
def replay_pool(tmp_path_factory: pytest.TempPathFactory) -> PoolConfig:
    """Three recorded experts over questions q0..q11: two answer the gold letter, one always says D, so the
    majority vote's answer for q<i> is known in advance."""
    recordings = tmp_path_factory.mktemp("recordings")
    for name in ("right-1", "right-2", "wrong"):
        rows = [
            {
                "question_id": f"q{i}",
                "pred": None,
                "text": f"The answer is ({'D' if name == 'wrong' else _gold(i)})",
            }
            for i in range(N_QUESTIONS)
        ]
        (recordings / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    experts = [
        {"name": n, "engine": "replay", "recordings_dir": str(recordings)}
        for n in ("right-1", "right-2", "wrong")
    ]
    return PoolConfig.model_validate(
        {"name": "replay-3", "experts": experts, "policy": "random_k", "k": 3, "aggregation": "majority"}
    )


@pytest.fixture(scope="module")
def embedder(minilm: Any, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(cache_dir=tmp_path_factory.mktemp("emb"), model=minilm)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def server(replay_pool: PoolConfig, embedder: Embedder, data_dir: Path) -> Iterator[str]:
    app = create_app(
        ServiceConfig(
            pool=replay_pool,
            api_keys=[KEY, OTHER_KEY],
            data_dir=data_dir,
            embedder=embedder,
            batch_window_s=0.0,
        )
    )
    with serve_in_thread(app) as (base_url, _):
        root = base_url.removesuffix("/v1")
        _wait_ready(root)
        yield root


def _wait_ready(root: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{root} never became ready")


def _line(custom_id: str, question: str, options: list[str] | None = None, **body: Any) -> dict[str, Any]:
    chat = {"model": "symbolic-moe", "messages": [{"role": "user", "content": question}], **body}
    if options is not None:
        chat["options"] = options
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": chat}


def _valid_lines(n: int = N_QUESTIONS) -> list[str]:
    return [
        json.dumps(_line(f"q{i}", f"Which option is right for case {i}?", ["w", "x", "y", "z"]))
        for i in range(n)
    ]


def _upload(
    root: str, content: bytes, purpose: str = "batch", headers: dict[str, str] = AUTH
) -> httpx.Response:
    files = {"file": ("input.jsonl", content, "application/jsonl")}
    return httpx.post(f"{root}/v1/files", files=files, data={"purpose": purpose}, headers=headers, timeout=30)


def _create(root: str, file_id: str, headers: dict[str, str] = AUTH, window: str = "24h") -> httpx.Response:
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": window}
    return httpx.post(f"{root}/v1/batches", json=body, headers=headers, timeout=30)


def _poll(root: str, batch_id: str, timeout_s: float = 120, headers: dict[str, str] = AUTH) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch = httpx.get(f"{root}/v1/batches/{batch_id}", headers=headers, timeout=10).json()
        if batch["status"] in ("completed", "failed", "cancelled", "expired"):
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)


def _content(root: str, file_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{root}/v1/files/{file_id}/content", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.text.splitlines()]


def _new_batch(catalog: BatchCatalog, lines: list[str], window: str = "24h") -> Any:
    """A batch of ``lines`` made as the anonymous owner (a server without keys)."""
    file = catalog.add_file("\n".join(lines).encode(), "in.jsonl", "batch", owner=ANONYMOUS)
    body = BatchCreateRequest(
        input_file_id=file.id, endpoint="/v1/chat/completions", completion_window=window
    )
    return new_batch(catalog, body, owner=ANONYMOUS)


def _file_rows(catalog: BatchCatalog, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(x) for x in catalog.read_file(file_id, owner=ANONYMOUS).splitlines()]


class _RecordingCatalog(BatchCatalog):
    """A real catalog that also keeps the ``completed`` count of every in-progress write, and when any
    batch starts, sets ``expires_at`` in the past for the ids in ``expire_on_start``: a replay run is too
    fast to poll, so this is how a test sees its intermediate states and expires it mid-run."""

    def __init__(self, data_dir: Path, expire_on_start: frozenset[str] = frozenset()) -> None:
        super().__init__(data_dir)
        self.completed: list[int] = []
        self.expire_on_start = set(expire_on_start)

    def update_batch(self, batch_id: str, allowed: tuple[str, ...], **changes: Any) -> Any:
        new = super().update_batch(batch_id, allowed, **changes)
        if new is not None and new.status == "in_progress":
            self.completed.append(new.request_counts.completed)
            if changes.get("status") == "in_progress":
                for expiring in sorted(self.expire_on_start):
                    super().update_batch(expiring, OPEN, expires_at=now_s() - 1)
        return new


def _wait_status(catalog: BatchCatalog, batch_id: str, statuses: tuple[str, ...]) -> Any:
    deadline = time.monotonic() + 30
    while (record := catalog.get_batch(batch_id, owner=ANONYMOUS)).status not in statuses:
        assert time.monotonic() < deadline, record
        time.sleep(0.02)
    return record


def test_batch_end_to_end_answers_every_valid_line_and_reports_the_bad_ones(
    server: str, data_dir: Path
) -> None:
    bad = [
        "{not json",
        json.dumps(_line("bad-url", "hi") | {"url": "/v1/embeddings"}),
        json.dumps({"custom_id": "no-body", "method": "POST", "url": "/v1/chat/completions"}),
        json.dumps(_line("q3", "a repeated custom_id")),
        json.dumps(_line("streams", "hi", stream=True)),
        json.dumps(
            _line("unknown-model", "hi")
            | {"body": {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}}
        ),
        "[1, 2]",
    ]
    lines = _valid_lines()
    content = "\n".join(lines[:6] + bad + lines[6:] + [""]).encode()
    uploaded = _upload(server, content)
    assert uploaded.status_code == 200, uploaded.text
    file = uploaded.json()
    assert file["object"] == "file" and file["purpose"] == "batch" and file["bytes"] == len(content)
    assert httpx.get(f"{server}/v1/files/{file['id']}", headers=AUTH).json() == file

    created = _create(server, file["id"])
    assert created.status_code == 200, created.text
    assert created.json()["status"] in ("validating", "in_progress", "completed")
    batch = _poll(server, created.json()["id"])
    assert batch["status"] == "completed", batch
    assert batch["request_counts"] == {
        "total": N_QUESTIONS + len(bad),
        "completed": N_QUESTIONS,
        "failed": len(bad),
    }
    assert batch["completed_at"] >= batch["in_progress_at"] >= batch["created_at"]

    out = _content(server, batch["output_file_id"])
    assert [o["custom_id"] for o in out] == [f"q{i}" for i in range(N_QUESTIONS)]  # input order
    for o in out:
        assert o["error"] is None and o["response"]["status_code"] == 200 and o["id"].startswith("batch_req_")
        completion = o["response"]["body"]
        assert completion["object"] == "chat.completion" and completion["model"] == "symbolic-moe"
        expected = _gold(int(o["custom_id"][1:]))
        assert completion["choices"][0]["message"]["content"] == expected, o
        assert len(completion["symoe"]["expert_answers"]) == 3
        assert completion["symoe"]["batch_size"] == N_QUESTIONS  # one run answered every valid line

    errors = _content(server, batch["error_file_id"])
    assert len(errors) == len(bad) and all(e["response"] is None for e in errors)
    messages = {(e["custom_id"], e["error"]["message"]) for e in errors}
    assert (
        None,
        "line 7: not JSON (Expecting property name enclosed in double quotes at column 2)",
    ) in messages
    assert (None, "line 13: expected a JSON object, got list") in messages
    by_id = {cid: m for cid, m in messages if cid is not None}
    assert by_id["bad-url"].startswith("line 8: 'url' must be '/v1/chat/completions'")
    assert by_id["q3"] == "line 10: custom_id 'q3' repeats line 4"
    assert "line 11: body: stream" in by_id["streams"] and "'gpt-x' is not served" in by_id["unknown-model"]
    assert by_id["no-body"].startswith("line 9: body: ")

    # the batch is one run in the real run store under data_dir, journaled per generation
    store = RunStore(data_dir / "runs.sqlite")
    run = store.get_run(batch["id"])
    assert run.status == "done" and run.n_instances == N_QUESTIONS
    assert len(store.generations(batch["id"])) == 3 * N_QUESTIONS
    assert batch["symoe"]["generations_computed"] == 3 * N_QUESTIONS
    listed = httpx.get(f"{server}/v1/batches", params={"limit": 100}, headers=AUTH).json()
    assert batch["id"] in [b["id"] for b in listed["data"]]


def test_openai_client_runs_a_batch(server: str) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY)
    uploaded = client.files.create(file=("in.jsonl", "\n".join(_valid_lines(4)).encode()), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"who": "test"},
    )
    deadline = time.monotonic() + 60
    while batch.status not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.metadata == {"who": "test"}
    assert batch.request_counts is not None and batch.request_counts.completed == 4
    rows = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    answers = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in rows}
    assert answers == {f"q{i}": _gold(i) for i in range(4)}
    assert batch.id in [b.id for b in client.batches.list(limit=100)]
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_" + "0" * 24)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="wrong").batches.list()


def test_cancelled_batch_never_runs_and_cannot_be_cancelled_twice(
    replay_pool: PoolConfig, tmp_path: Path
) -> None:
    catalog = BatchCatalog(tmp_path)
    record = _new_batch(catalog, _valid_lines(2))
    assert cancel_batch(catalog, record.id, owner=ANONYMOUS).status == "cancelling"
    store = RunStore(tmp_path / "runs.sqlite")

    def never(*args: Any) -> Any:
        raise AssertionError("a cancelled batch must not be parsed")

    worker = BatchWorker(catalog, replay_pool, ChatCodec(never, never), store)
    assert worker.start() == 1  # the startup scan finds it, as after a restart
    deadline = time.monotonic() + 10
    while catalog.get_batch(record.id, owner=ANONYMOUS).status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker.close()
    assert store.list_runs() == []
    with pytest.raises(ConflictError, match="only unfinished batches"):
        cancel_batch(catalog, record.id, owner=ANONYMOUS)
    catalog.close()


def test_one_server_per_data_dir(tmp_path: Path) -> None:
    first = BatchCatalog(tmp_path)
    with pytest.raises(ConfigError, match="in use by another server"):
        BatchCatalog(tmp_path)
    first.close()
    BatchCatalog(tmp_path).close()  # released on close (and by the OS when a server dies)


def test_batch_endpoints_require_the_api_key(server: str) -> None:
    fid, bid = "file-" + "a" * 24, "batch_" + "a" * 24
    calls = [
        ("POST", "/v1/files", {"files": {"file": ("x.jsonl", b"{}")}, "data": {"purpose": "batch"}}),
        ("GET", "/v1/files", {}),
        ("GET", f"/v1/files/{fid}", {}),
        ("GET", f"/v1/files/{fid}/content", {}),
        ("DELETE", f"/v1/files/{fid}", {}),
        ("POST", "/v1/batches", {"json": {"input_file_id": fid, "endpoint": "/v1/chat/completions",
                                          "completion_window": "24h"}}),
        ("GET", "/v1/batches", {}),
        ("GET", f"/v1/batches/{bid}", {}),
        ("POST", f"/v1/batches/{bid}/cancel", {}),
    ]  # fmt: skip
    for headers in ({}, {"Authorization": "Bearer nope"}):
        for method, path, kwargs in calls:
            r = httpx.request(method, f"{server}{path}", headers=headers, **kwargs)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"]["type"] == "invalid_api_key"


def _raw(root: str, method: str, path: str) -> tuple[int, bytes]:
    """Send ``path`` byte for byte (httpx would normalise dot segments away)."""
    url = urlsplit(root)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        conn.request(method, path, headers=AUTH)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_path_traversal_on_file_ids_is_refused_and_touches_nothing(
    server: str, data_dir: Path, tmp_path: Path
) -> None:
    secret = data_dir / "secret.jsonl"  # inside data_dir but outside files/: still unreachable
    secret.write_text('{"secret": "do-not-leak"}\n')
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"secret": "do-not-leak"}\n')
    before = sorted(p.name for p in (data_dir / "files").iterdir())
    ids = [
        "../secret", "..%2Fsecret", "..%2f..%2fsecret", "%2e%2e%2fsecret", "file-../../secret",
        f"..%2F..%2F..%2F..%2F..%2F..%2F{str(outside).lstrip('/').replace('/', '%2F')}",
        "%2Fetc%2Fpasswd", "/etc/passwd", "file-" + "0" * 24 + "%00", "file-" + "A" * 24, "batches",
        "..", "file-" + "0" * 23 + "/", "file-" + "0" * 24 + "%2F..%2F..%2Fsecret",
    ]  # fmt: skip
    for file_id in ids:
        for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
            status, body = _raw(server, method, f"/v1/files/{file_id}{suffix}")
            assert 400 <= status < 500, (method, file_id, suffix, status, body)
            assert b"do-not-leak" not in body and b"root:" not in body
    for file_id in ("../secret", "/etc/passwd", str(outside), "file-" + "0" * 24, "file-../../x"):
        r = _create(server, file_id)
        assert 400 <= r.status_code < 500 and "error" in r.json(), r.text
    assert secret.read_text() == outside.read_text() == '{"secret": "do-not-leak"}\n'
    assert sorted(p.name for p in (data_dir / "files").iterdir()) == before


def test_malformed_uploads_are_4xx_never_5xx(server: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"files": {"file": ("x.jsonl", b"\xff\xfe\x00garbage")}, "data": {"purpose": "batch"}}, "UTF-8"),
        ({"files": {"file": ("x.jsonl", b"\n  \n")}, "data": {"purpose": "batch"}}, "non-blank"),
        ({"files": {"file": ("x.jsonl", b"{}")}, "data": {"purpose": "fine-tune"}}, "purpose"),
        ({"data": {"purpose": "batch"}}, "file"),
        ({"files": {"file": ("x.jsonl", b"{}")}}, "purpose"),
        ({"json": {"purpose": "batch", "file": "{}"}}, "file"),
        (
            {"content": b"--nope\r\n\r\n", "headers": {"Content-Type": "multipart/form-data; boundary=nope"}},
            "",
        ),
    ]
    for kwargs, fragment in cases:
        headers = {**AUTH, **kwargs.pop("headers", {})}
        r = httpx.post(f"{server}/v1/files", headers=headers, timeout=30, **kwargs)
        assert 400 <= r.status_code < 500, (kwargs, r.status_code, r.text)
        assert fragment in r.json()["error"]["message"], r.text
    # a file whose every line is bad: the batch fails cleanly, with one error-file line per line
    uploaded = _upload(server, b"not json\n{}\n[]\n").json()
    batch = _poll(server, _create(server, uploaded["id"]).json()["id"])
    assert batch["status"] == "failed" and batch["errors"]["data"][0]["code"] == "no_valid_requests"
    assert batch["output_file_id"] is None and len(_content(server, batch["error_file_id"])) == 3
    # an input file in use cannot be deleted while unfinished; a finished one can
    assert httpx.delete(f"{server}/v1/files/{uploaded['id']}", headers=AUTH).json()["deleted"] is True
    assert httpx.get(f"{server}/v1/files/{uploaded['id']}", headers=AUTH).status_code == 404
    wrong = _create(server, batch["error_file_id"])
    assert wrong.status_code == 400 and "purpose" in wrong.json()["error"]["message"]


# -- ownership, live counts, expiry ------------------------------------------------------------------


def test_files_and_batches_belong_to_the_key_that_made_them(server: str, data_dir: Path) -> None:
    mine = _upload(server, "\n".join(_valid_lines(2)).encode()).json()
    batch = _poll(server, _create(server, mine["id"]).json()["id"])
    assert batch["status"] == "completed", batch
    theirs = _upload(server, "\n".join(_valid_lines(1)).encode(), headers=OTHER).json()
    missing_file, missing_batch = "file-" + "0" * 24, "batch_" + "0" * 24

    def same_as_missing(method: str, path: str, real: str, missing: str, **kwargs: Any) -> None:
        """Another key's id answers exactly like an id that does not exist (no existence leak)."""
        foreign = httpx.request(method, f"{server}{path.format(real)}", headers=OTHER, timeout=10, **kwargs)
        absent = httpx.request(method, f"{server}{path.format(missing)}", headers=OTHER, timeout=10, **kwargs)
        assert foreign.status_code == absent.status_code == 404, (path, foreign.text)
        assert foreign.json() == json.loads(absent.text.replace(missing, real)), (path, foreign.text)

    for fid in (mine["id"], batch["output_file_id"]):
        for method, path in (
            ("GET", "/v1/files/{}"),
            ("GET", "/v1/files/{}/content"),
            ("DELETE", "/v1/files/{}"),
        ):
            same_as_missing(method, path, fid, missing_file)
        foreign = _create(server, fid, headers=OTHER)
        absent = _create(server, missing_file, headers=OTHER)
        assert foreign.status_code == absent.status_code == 404, foreign.text
        assert foreign.json() == json.loads(absent.text.replace(missing_file, fid)), foreign.text
    same_as_missing("GET", "/v1/batches/{}", batch["id"], missing_batch)
    same_as_missing("POST", "/v1/batches/{}/cancel", batch["id"], missing_batch)
    same_as_missing("GET", "/v1/batches?after={}", batch["id"], missing_batch)

    def listed(path: str, headers: dict[str, str]) -> set[str]:
        r = httpx.get(f"{server}{path}", params={"limit": 100}, headers=headers, timeout=10)
        return {x["id"] for x in r.json()["data"]}

    assert listed("/v1/files", OTHER) == {theirs["id"]} and listed("/v1/batches", OTHER) == set()
    mine_listed = listed("/v1/files", AUTH)
    assert {mine["id"], batch["output_file_id"]} <= mine_listed and theirs["id"] not in mine_listed
    assert batch["id"] in listed("/v1/batches", AUTH)
    assert [r["custom_id"] for r in _content(server, batch["output_file_id"])] == ["q0", "q1"]  # untouched
    other_content = httpx.get(f"{server}/v1/files/{theirs['id']}/content", headers=AUTH, timeout=10)
    assert other_content.status_code == 404  # and the other way round
    # the catalog keeps a sha256 of each key, never the key
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'batches.sqlite'}?mode=ro", uri=True)) as db:
        owners = {r[0] for r in db.execute("SELECT owner FROM files UNION SELECT owner FROM batches")}
    assert owners == {hashlib.sha256(k.encode()).hexdigest() for k in (KEY, OTHER_KEY)}
    for path in data_dir.glob("batches.sqlite*"):
        assert KEY.encode() not in path.read_bytes() and OTHER_KEY.encode() not in path.read_bytes()


def test_completion_window_sets_expires_at_and_bad_windows_are_400(server: str) -> None:
    file_id = _upload(server, "\n".join(_valid_lines(1)).encode()).json()["id"]
    created = _create(server, file_id, window="2h").json()
    assert created["completion_window"] == "2h"
    assert created["expires_at"] - created["created_at"] == 2 * 3600
    assert _poll(server, created["id"])["status"] == "completed"
    for window in ("0h", "24", "1d", "10000h", "-1h", "24 h", ""):
        r = _create(server, file_id, window=window)
        assert r.status_code == 400, (window, r.text)
        assert "completion_window" in r.json()["error"]["message"], r.text


def test_running_batch_counts_questions_as_their_experts_finish(
    replay_pool: PoolConfig, embedder: Embedder, tmp_path: Path
) -> None:
    catalog = _RecordingCatalog(tmp_path)
    store = RunStore(tmp_path / "runs.sqlite")
    pool = replay_pool.model_copy(update={"batch_size": 2})  # 6 engine batches per expert
    record = _new_batch(catalog, [*_valid_lines(), "not json"])
    worker = BatchWorker(catalog, pool, chat_codec(["symbolic-moe"]), store, embedder, progress_interval_s=0)
    worker.start()
    done = _wait_status(catalog, record.id, ("completed", "failed"))
    worker.close()
    assert done.status == "completed"
    assert done.request_counts.model_dump() == {
        "total": N_QUESTIONS + 1,
        "completed": N_QUESTIONS,
        "failed": 1,
    }
    # every expert answers every question and the experts run one after another: a question is counted
    # once the third expert answered it, two questions per engine batch
    live = catalog.completed
    assert live == sorted(live) and live[0] == 0, live
    assert [c for c in live if 0 < c < N_QUESTIONS] == [2, 4, 6, 8, 10], live
    assert answered_questions(store.path, record.id, 3) == N_QUESTIONS
    assert answered_questions(store.path, record.id, 4) == 0
    assert answered_questions(":memory:", record.id, 3) is None
    catalog.close()


def test_overdue_batch_expires_at_startup_with_every_line_in_the_error_file(
    replay_pool: PoolConfig, tmp_path: Path
) -> None:
    catalog = BatchCatalog(tmp_path)
    record = _new_batch(catalog, [*_valid_lines(3), "[1]"], window="1h")
    assert record.expires_at == record.created_at + 3600
    catalog.update_batch(record.id, OPEN, expires_at=now_s() - 1)
    store = RunStore(tmp_path / "runs.sqlite")
    worker = BatchWorker(catalog, replay_pool, chat_codec(["symbolic-moe"]), store)
    assert worker.start() == 0  # expired before anything was queued
    worker.close()
    expired = catalog.get_batch(record.id, owner=ANONYMOUS)
    assert expired.status == "expired" and expired.expired_at is not None and expired.output_file_id is None
    assert expired.request_counts.model_dump() == {"total": 4, "completed": 0, "failed": 4}
    rows = _file_rows(catalog, expired.error_file_id)
    codes = {r["custom_id"]: r["error"]["code"] for r in rows}
    assert codes == {
        "q0": "batch_expired",
        "q1": "batch_expired",
        "q2": "batch_expired",
        None: "invalid_request",
    }
    assert store.list_runs() == []  # nothing ran
    with pytest.raises(ConflictError):
        cancel_batch(catalog, record.id, owner=ANONYMOUS)
    catalog.close()


def test_batch_expires_mid_run_and_so_does_the_one_waiting_behind_it(
    replay_pool: PoolConfig, embedder: Embedder, tmp_path: Path
) -> None:
    probe = BatchCatalog(tmp_path)
    running, waiting = _new_batch(probe, _valid_lines()), _new_batch(probe, _valid_lines(2))
    probe.close()
    catalog = _RecordingCatalog(tmp_path, expire_on_start=frozenset({running.id, waiting.id}))
    store = RunStore(tmp_path / "runs.sqlite")
    pool = replay_pool.model_copy(update={"batch_size": 2})
    worker = BatchWorker(catalog, pool, chat_codec(["symbolic-moe"]), store, embedder, progress_interval_s=0)
    assert worker.start() == 2  # both in time at startup
    first = _wait_status(catalog, running.id, ("expired", "completed", "failed"))
    second = _wait_status(catalog, waiting.id, ("expired", "completed", "failed"))
    worker.close()
    assert first.status == second.status == "expired", (first, second)
    assert first.in_progress_at is not None and first.output_file_id is None
    assert first.request_counts.model_dump() == {"total": N_QUESTIONS, "completed": 0, "failed": N_QUESTIONS}
    rows = _file_rows(catalog, first.error_file_id)
    assert [r["custom_id"] for r in rows] == [f"q{i}" for i in range(N_QUESTIONS)]
    assert {r["error"]["code"] for r in rows} == {"batch_expired"}
    # the run stopped at its first engine batch after expiry: two generations, not 3 x 12
    assert len(store.generations(running.id)) == 2
    assert store.get_run(running.id).status == "failed"
    assert [r["custom_id"] for r in _file_rows(catalog, second.error_file_id)] == ["q0", "q1"]
    catalog.close()


def test_catalog_from_before_ownership_gives_its_records_to_the_anonymous_owner(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "batches.sqlite")) as db:
        db.executescript(
            "CREATE TABLE files (id TEXT PRIMARY KEY, record_json TEXT NOT NULL);"
            "CREATE TABLE batches (id TEXT PRIMARY KEY, status TEXT NOT NULL, record_json TEXT NOT NULL);"
        )
        record = {
            "id": "file-" + "1" * 24,
            "bytes": 2,
            "created_at": 1,
            "filename": "a.jsonl",
            "purpose": "batch",
        }
        db.execute("INSERT INTO files VALUES (?, ?)", (record["id"], json.dumps(record)))
        db.commit()
    catalog = BatchCatalog(tmp_path)
    assert catalog.get_file(record["id"], owner=ANONYMOUS).filename == "a.jsonl"
    assert [f.id for f in catalog.list_files(None, owner=ANONYMOUS)] == [record["id"]]
    assert catalog.list_files(None, owner=hashlib.sha256(b"k").hexdigest()) == []
    catalog.close()


# -- SIGKILL mid-batch, then resume on a fresh server over the same data_dir ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(pool_file: Path, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    # one torch thread: on a small shared CPU, spinning OpenMP threads slow the tiny models 50-fold
    env = {**os.environ, "SYMOE_API_KEYS": KEY, "SYMOE_LOG_LEVEL": "INFO", "OMP_NUM_THREADS": "1"}
    args = ["-m", "orchestrator.cli", "serve", "--pool", str(pool_file), "--port", str(port),
            "--data-dir", str(data_dir), "--batch-window-s", "0"]  # fmt: skip
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, *args], stdout=fh, stderr=fh, env=env)
    return proc, f"http://127.0.0.1:{port}"


def _generations(db: Path, run_id: str) -> dict[str, tuple[Any, ...]]:
    if not db.exists():
        return {}
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT prompt_hash, stage, text, created_at FROM generations WHERE run_id = ?", (run_id,)
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.mark.slow
def test_sigkilled_server_resumes_the_batch_reusing_journaled_generations(
    tiny_pool: dict[str, Path], tmp_path: Path
) -> None:
    cfg = load_pool_config(POOLS / "tiny-cpu.yaml")
    pool = cfg.model_copy(
        update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent), "batch_size": 1}
    )
    pool_file = tmp_path / "pool.yaml"
    pool_file.write_text(json.dumps(pool.model_dump(mode="json")))
    data_dir, log = tmp_path / "svc", tmp_path / "server.log"
    n = 10
    content = "\n".join(json.dumps(_line(f"c{i}", f"What is {i} plus {i + 2}?")) for i in range(n)).encode()

    proc, root = _start_server(pool_file, data_dir, log)
    try:
        _wait_ready(root)
        file_id = _upload(root, content).json()["id"]
        batch_id = _create(root, file_id).json()["id"]
        deadline = time.monotonic() + 120
        while (
            sum(1 for g in _generations(data_dir / "runs.sqlite", batch_id).values() if g[0] == "experts") < 3
        ):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    before = _generations(data_dir / "runs.sqlite", batch_id)
    experts_before = sum(1 for g in before.values() if g[0] == "experts")
    assert 3 <= experts_before < 3 * n, "the kill should land mid-way through the expert stage"
    assert RunStore(data_dir / "runs.sqlite").get_run(batch_id).status == "running"

    proc, root = _start_server(pool_file, data_dir, log)
    try:
        _wait_ready(root)
        batch = _poll(root, batch_id, timeout_s=180)
        assert batch["status"] == "completed", (batch, log.read_text()[-3000:])
        out = _content(root, batch["output_file_id"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert sorted(o["custom_id"] for o in out) == sorted(f"c{i}" for i in range(n))
    assert batch["request_counts"] == {"total": n, "completed": n, "failed": 0}

    after = _generations(data_dir / "runs.sqlite", batch_id)
    assert all(after[h] == row for h, row in before.items())  # journaled rows untouched, never recomputed
    trace = batch["symoe"]
    assert trace["attempts"] == 2 and trace["run_id"] == batch_id
    assert trace["generations_reused"] == len(before)
    assert trace["generations_computed"] == len(after) - len(before) > 0
    report = RunStore(data_dir / "runs.sqlite").get_run(batch_id).report
    assert report is not None and report["generations_reused"] == len(before)
