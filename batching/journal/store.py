"""The durable run store: an embedded SQLite journal of every generation, keyed by prompt hash.

One SQLite file (WAL mode) holds three tables:

- ``runs``: one row per run id: pool name, backend, the resolved pool config, the questions, the status
  and the last report. Secrets in URLs (a token in an expert's ``base_url``) are redacted in the config,
  the report, errors and event details (:mod:`common.secrets`): a run whose pool had one is resumed
  with ``--pool``. ``symoe run --resume <id>`` reads its inputs back from here.
- ``generations``: one row per generation, primary key ``(run_id, prompt_hash)``: stage, expert,
  instance id, output, token counts, seconds. The key is why the same prompt is never generated twice
  within a run: every caller looks its prompts up before generating them.
- ``events``: model loads (seconds) and worker failures, per stage and expert.
- ``steps``: agent pipeline steps (``agents/``), primary key ``(run_id, step_key)``: status and a JSON
  payload, so a job killed mid-way resumes at the failed step and never redoes a finished one.

Writes are transactional: each engine batch is journaled in one ``BEGIN IMMEDIATE … COMMIT``, so a
crash (even SIGKILL) leaves the batch either wholly present or absent, never half-written. WAL with
``synchronous=NORMAL`` survives process crashes; a power loss may drop the last few commits, which a
resume then recomputes.

Example::

    store = RunStore("runs.sqlite")
    run_id = store.create_run(pool_cfg, instances, backend="local")
    h = prompt_hash(model_key(expert_cfg), request)
    store.record(run_id, [GenerationRow(h, "experts", expert_cfg.name, "q1", result, 0.4)])
    store.lookup(run_id, [h])          # {h: result}

Engines journal through :class:`batching.journal.engine.JournalEngine`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from common.errors import ConfigError
from common.generation import GenRequest, GenResult
from common.private_files import touch_private
from common.records import Instance
from common.secrets import redact_text, redact_tree
from common.settings import expand_path

logger = logging.getLogger(__name__)

DEFAULT_STORE_PATH = Path("$SYMOE_HOME/runs.sqlite")
"""Where ``symoe run`` journals by default (beside the tiny models' cache), so ``symoe runs list``
finds every run whatever the working directory; ``--store`` or ``SYMOE_STORE`` override it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, status TEXT NOT NULL,
    pool TEXT NOT NULL, backend TEXT NOT NULL, n_instances INTEGER NOT NULL, config_json TEXT NOT NULL,
    instances_json TEXT NOT NULL, report_json TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS generations (
    run_id TEXT NOT NULL, prompt_hash TEXT NOT NULL, stage TEXT NOT NULL, expert TEXT NOT NULL,
    instance_id TEXT, request_id TEXT NOT NULL, text TEXT, prompt_tokens INTEGER NOT NULL,
    generated_tokens INTEGER NOT NULL, finish_reason TEXT, missing INTEGER NOT NULL, error TEXT,
    extracted TEXT, seconds REAL NOT NULL, created_at REAL NOT NULL, reused_from TEXT,
    PRIMARY KEY (run_id, prompt_hash));
CREATE INDEX IF NOT EXISTS generations_by_hash ON generations (prompt_hash);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, ts REAL NOT NULL, stage TEXT NOT NULL, expert TEXT NOT NULL, kind TEXT NOT NULL,
    seconds REAL NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step_key TEXT NOT NULL, status TEXT NOT NULL, payload_json TEXT NOT NULL,
    writes INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, step_key));
"""
_RESULT_COLUMNS = "text, prompt_tokens, generated_tokens, finish_reason, missing, error, extracted"


INERT_CONFIG_FIELDS = frozenset(
    {"name", "family", "cost", "price_per_1k_tokens", "footprint_gib", "sampling", "api_key_env",
     "max_concurrency", "timeout_s", "max_retries", "backoff_s", "batch_size", "cpu_threads",
     "gpu_memory_utilization", "enable_sleep_mode", "in_process", "kv_cache_memory_bytes"}
)  # fmt: skip
"""Expert config fields that cannot change a generation (names, costs, resources, retries), so they stay
out of :func:`model_key`; every other field (engine, model id, endpoint, dtype, template, seed, context
length, any field added later...) is in it. Sampling is left out because each request carries its own."""


def model_key(config: Any) -> str:
    """What identifies a model in a prompt hash: every field of its config that can change an output.

    Two experts with equal keys answer every request identically, so their generations are shared (and
    :func:`duplicate_models` refuses such a pool). For a pydantic expert config the key is the canonical
    JSON of its fields less :data:`INERT_CONFIG_FIELDS`, with ``model`` resolved to the model id and
    secrets removed from URLs (a token in ``base_url`` names no other model); for another object, its
    ``engine``, ``model_id`` and ``chat_template``.
    """
    if not isinstance(config, BaseModel):
        template = getattr(config, "chat_template", None) or ""
        return f"{getattr(config, 'engine', '?')}:{getattr(config, 'model_id', '?')}:{template}"
    fields = {k: v for k, v in config.model_dump(mode="json").items() if k not in INERT_CONFIG_FIELDS}
    fields["model"] = getattr(config, "model_id", fields.get("model"))
    return json.dumps(redact_tree(fields), sort_keys=True)


def stored_config(config: BaseModel) -> dict[str, Any]:
    """``config`` as the run store keeps it: its JSON dump with secrets in URLs redacted
    (:func:`common.secrets.redact_tree`), so a token in an expert's ``base_url`` is never stored."""
    return dict(redact_tree(config.model_dump(mode="json")))


def duplicate_models(configs: Sequence[Any]) -> list[tuple[str, str]]:
    """Pairs ``(first, later)`` of expert names whose :func:`model_key` is equal (one model twice)."""
    seen: dict[str, str] = {}
    pairs = []
    for cfg in configs:
        key = model_key(cfg)
        if key in seen:
            pairs.append((seen[key], getattr(cfg, "name", "?")))
        else:
            seen[key] = getattr(cfg, "name", "?")
    return pairs


def prompt_hash(model: str, request: GenRequest, *, keyed_by_instance: bool = False) -> str:
    """sha256 of the canonical request: model key, prompt, chat messages and sampling params.

    Args:
        model: :func:`model_key` of the serving model.
        request: the request; its ``request_id`` does not count.
        keyed_by_instance: also hash ``instance_id`` (replay engines answer by instance, not by text).
    """
    canonical = {
        "model": model,
        "prompt": request.prompt,
        "messages": [list(m) for m in request.messages],
        "sampling": asdict(request.sampling),
        "instance": request.instance_id if keyed_by_instance else None,
    }
    if request.json_schema is not None:  # only then, so hashes of unconstrained requests never change
        canonical["json_schema"] = request.json_schema
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def new_run_id() -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<6 hex>``."""
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One row of ``runs``."""

    run_id: str
    created_at: float
    updated_at: float
    status: str
    pool: str
    backend: str
    n_instances: int
    config: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None

    def instances(self, store: RunStore) -> list[Instance]:
        """The questions of the run, as they were stored when it was created."""
        return store.instances(self.run_id)


class RunStore:
    """The SQLite run store (thread-safe: one connection behind a lock).

    Args:
        path: the database file (created with its folders); ``":memory:"`` for a throwaway store.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE_PATH) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(expand_path(path))
        if self.path != ":memory:":
            try:  # it holds users' questions and answers: 0600 (its -wal/-shm copy the mode), whatever umask
                touch_private(self.path)
            except OSError as exc:
                raise ConfigError(
                    f"run store {self.path}: cannot create it ({exc.strerror or exc}); check the path and "
                    "its permissions, or pass another --store"
                ) from exc
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(self._describe(exc)) from exc
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it commits or none of it does."""
        with self._lock, self._unusable_is_config_error():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._unusable_is_config_error():
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def _unusable_is_config_error(self) -> Iterator[None]:
        """A damaged or locked file raises ConfigError naming it; IntegrityError (a caller's bug or a
        duplicate run id) passes through for the caller to handle."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise ConfigError(self._describe(exc)) from exc

    def _describe(self, exc: sqlite3.Error) -> str:
        if "locked" in str(exc):
            return f"run store {self.path}: {exc}; another process holds it: wait, or pass another --store"
        if "unable to open" in str(exc) or "readonly" in str(exc):
            return (
                f"run store {self.path}: {exc}; check the path and its permissions, or pass another --store"
            )
        return (
            f"run store {self.path}: {exc}; the file is damaged: move it aside (or pass another --store / "
            "SYMOE_STORE) and run again; `sqlite3 FILE .recover` may save its runs"
        )

    def check(self, *, full: bool = False) -> None:
        """Check that the store is usable: a cheap read, or with ``full`` SQLite's ``quick_check`` of every
        page (seconds per GiB).

        Raises:
            ConfigError: the file is damaged or cannot be read (the message names it).
        """
        if not full:
            self._query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")
            return
        rows = self._query("PRAGMA quick_check")
        problems = [r[0] for r in rows if r[0] != "ok"]
        if problems:
            raise ConfigError(self._describe(sqlite3.DatabaseError("; ".join(problems[:3]))))

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self, pool: Any, instances: Sequence[Instance], *, backend: str, run_id: str | None = None
    ) -> str:
        """Register a new run and return its id.

        Raises:
            ConfigError: ``run_id`` already exists (resume it instead).
        """
        run_id = run_id or new_run_id()
        now = time.time()
        rows = json.dumps([i.model_dump(mode="json") for i in instances])
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,NULL,NULL)",
                    (run_id, now, now, "running", pool.name, backend, len(instances),
                     json.dumps(stored_config(pool)), rows),
                )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise ConfigError(
                f"run store {self.path}: run {run_id!r} exists; resume it with --resume"
            ) from exc
        return run_id

    def get_run(self, run_id: str) -> RunRecord:
        """The run ``run_id``.

        Raises:
            ConfigError: no such run (the message lists the latest ids).
        """
        rows = self._query(
            "SELECT run_id, created_at, updated_at, status, pool, backend, n_instances, config_json, "
            "report_json, error FROM runs WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            latest = ", ".join(r.run_id for r in self.list_runs(limit=5)) or "none"
            raise ConfigError(
                f"run store {self.path}: no run {run_id!r} (latest: {latest}); see `symoe runs list`"
            )
        r = rows[0]
        return RunRecord(
            run_id=r[0],
            created_at=r[1],
            updated_at=r[2],
            status=r[3],
            pool=r[4],
            backend=r[5],
            n_instances=r[6],
            config=json.loads(r[7]),
            report=json.loads(r[8]) if r[8] else None,
            error=r[9],
        )

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The latest runs, newest first."""
        ids = self._query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [self.get_run(r[0]) for r in ids]

    def instances(self, run_id: str) -> list[Instance]:
        """The questions a run was created with."""
        rows = self._query("SELECT instances_json FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            self.get_run(run_id)  # raises the helpful error
        return [Instance.model_validate(x) for x in json.loads(rows[0][0])]

    def finish_run(
        self, run_id: str, status: str, *, report: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Mark a run ``done`` or ``failed`` (with its report or error)."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, updated_at=?, report_json=COALESCE(?, report_json), error=? "
                "WHERE run_id=?",
                (
                    status,
                    time.time(),
                    json.dumps(redact_tree(report)) if report is not None else None,
                    redact_text(error) if error is not None else None,
                    run_id,
                ),
            )

    # -- generations -----------------------------------------------------------------------------
    def lookup(self, run_id: str, hashes: Sequence[str], *, any_run: bool = False) -> dict[str, GenResult]:
        """Stored results of ``hashes``: this run's, then (``any_run``) any other run's, copied in.

        Copies from other runs are inserted into ``run_id`` with ``reused_from`` set, in one transaction,
        so a cached generation also becomes part of this run's journal.
        """
        found: dict[str, GenResult] = {}
        wanted = list(dict.fromkeys(hashes))
        for first in range(0, len(wanted), 500):  # SQLite caps host parameters per statement
            chunk = wanted[first : first + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT prompt_hash, request_id, {_RESULT_COLUMNS} FROM generations "
                f"WHERE run_id = ? AND prompt_hash IN ({marks})",
                (run_id, *chunk),
            )
            found.update((r[0], _result(r[1:])) for r in rows)
        missing = [h for h in wanted if h not in found]
        if any_run and missing:
            found.update(self._copy_from_other_runs(run_id, missing))
        return found

    def _copy_from_other_runs(self, run_id: str, hashes: Sequence[str]) -> dict[str, GenResult]:
        found: dict[str, GenResult] = {}
        with self._tx() as db:
            for h in hashes:
                row = db.execute(
                    f"SELECT run_id, request_id, {_RESULT_COLUMNS} FROM generations WHERE prompt_hash = ? "
                    "AND run_id != ? AND error IS NULL ORDER BY created_at LIMIT 1",
                    (h, run_id),
                ).fetchone()
                if row is None:
                    continue
                db.execute(
                    "INSERT INTO generations SELECT ?, prompt_hash, stage, expert, instance_id, request_id, "
                    f"{_RESULT_COLUMNS}, 0.0, ?, ? FROM generations WHERE run_id = ? AND prompt_hash = ?",
                    (run_id, time.time(), row[0], row[0], h),
                )
                found[h] = _result(row[1:])
        return found

    def record(self, run_id: str, rows: Sequence[GenerationRow]) -> None:
        """Journal one engine batch in one transaction.

        Raises:
            sqlite3.IntegrityError: a prompt hash of the batch is already journaled for this run (a
                caller generated it twice; the whole batch is rolled back).
        """
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                [
                    (run_id, r.prompt_hash, r.stage, r.expert, r.instance_id, r.result.request_id,
                     r.result.text, r.result.prompt_tokens, r.result.generated_tokens, r.result.finish_reason,
                     int(r.result.missing), redact_text(r.result.error) if r.result.error else r.result.error,
                     r.result.extracted, r.seconds, now)
                    for r in rows
                ],
            )  # fmt: skip

    def event(
        self, run_id: str, stage: str, expert: str, kind: str, seconds: float, detail: str = ""
    ) -> None:
        """Journal a model load (``kind="load"``) or a worker failure (``kind="failure"``)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                (run_id, time.time(), stage, expert, kind, seconds, redact_text(detail)),
            )

    def generations(self, run_id: str) -> list[dict[str, Any]]:
        """Every journaled generation of a run, oldest first, as dicts (for reports and tests)."""
        cols = (
            "prompt_hash, stage, expert, instance_id, request_id, text, prompt_tokens, generated_tokens, "
            "error, missing, seconds, created_at, reused_from"
        )
        rows = self._query(
            f"SELECT {cols} FROM generations WHERE run_id = ? ORDER BY created_at, rowid", (run_id,)
        )
        names = [c.strip() for c in cols.split(",")]
        return [dict(zip(names, r, strict=True)) for r in rows]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Every journaled event of a run, oldest first."""
        rows = self._query(
            "SELECT ts, stage, expert, kind, seconds, detail FROM events WHERE run_id = ? ORDER BY ts",
            (run_id,),
        )
        return [
            dict(zip(("ts", "stage", "expert", "kind", "seconds", "detail"), r, strict=True)) for r in rows
        ]

    # -- agent steps ---------------------------------------------------------------------------
    def record_steps(self, run_id: str, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Journal ``(step_key, status, payload)`` rows in one transaction (a rewrite bumps ``writes``)."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO steps VALUES (?,?,?,?,1,?,?) ON CONFLICT (run_id, step_key) DO UPDATE SET "
                "status=excluded.status, payload_json=excluded.payload_json, writes=writes+1, "
                "updated_at=excluded.updated_at",
                [(run_id, key, status, json.dumps(payload), now, now) for key, status, payload in rows],
            )

    def record_step(self, run_id: str, step_key: str, status: str, payload: dict[str, Any]) -> None:
        """Journal one agent step (``status`` e.g. ``done`` or ``failed``)."""
        self.record_steps(run_id, [(step_key, status, payload)])

    def lookup_step(self, run_id: str, step_key: str) -> StepRecord | None:
        """The journaled step ``step_key`` of ``run_id``, or None."""
        rows = self._query(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? AND step_key = ?",
                           (run_id, step_key))  # fmt: skip
        return _step(rows[0]) if rows else None

    def steps(self, run_id: str) -> list[StepRecord]:
        """Every journaled step of a run, in the order they were first written."""
        rows = self._query(f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY created_at, rowid",
                           (run_id,))  # fmt: skip
        return [_step(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


_STEP_COLUMNS = "step_key, status, payload_json, writes, created_at, updated_at"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One row of ``steps``: an agent step, its status, its payload and how often it was written."""

    step_key: str
    status: str
    payload: dict[str, Any]
    writes: int
    created_at: float
    updated_at: float


def _step(row: Sequence[Any]) -> StepRecord:
    return StepRecord(
        step_key=row[0],
        status=row[1],
        payload=json.loads(row[2]),
        writes=int(row[3]),
        created_at=float(row[4]),
        updated_at=float(row[5]),
    )


def _result(row: Sequence[Any]) -> GenResult:
    rid, text, ptok, gtok, finish, missing, error, extracted = row
    return GenResult(
        request_id=rid, text=text, prompt_tokens=int(ptok), generated_tokens=int(gtok), finish_reason=finish,
        missing=bool(missing), error=error, extracted=extracted,
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerationRow:
    """One generation to journal."""

    prompt_hash: str
    stage: str
    expert: str
    instance_id: str | None
    result: GenResult
    seconds: float
