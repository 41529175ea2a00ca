"""On-disk cache of text embeddings: chunked ``.npz`` files per model, safe for concurrent writers.

Layout: ``<cache_dir>/<model>/chunk-<time>-<uuid>.npz``, each chunk holding ``keys`` (raw 32-byte
sha256 digests as ``(n, 32)`` uint8) and ``vectors`` (float32, one row per key). Writers never touch an
existing chunk: each ``put`` writes a new chunk to a temporary name and ``os.replace``-s it into place,
so two processes filling the same cache cannot corrupt each other; at worst both compute and store the
same vector, and the duplicate is dropped on the next load. When a model folder holds more than
``max_chunks`` chunks, a load merges them into one (again via a temporary file) and removes only the
chunks it merged.

Example::

    cache = EmbeddingCache("$SYMOE_HOME/embeddings", "all-MiniLM-L6-v2")
    keys = [cache.key(t) for t in texts]
    found = cache.get_many(keys)          # {position in keys: vector} for stored keys
    cache.put(missing_keys, missing_vecs)
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.settings import expand_path

logger = logging.getLogger(__name__)

_CHUNK_GLOB = "chunk-*.npz"
_KEY_BYTES = 32  # sha256 digest


def _safe_dir_name(model_name: str) -> str:
    """A folder name for a model name or path (``org/model`` -> ``org__model``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "__", model_name).strip("_") or "model"


def _pack_keys(keys: list[bytes]) -> np.ndarray:
    # uint8 rows rather than an ``S32`` array: numpy's bytes dtype strips trailing NUL bytes.
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)


def _unpack_keys(packed: np.ndarray) -> list[bytes]:
    if packed.ndim != 2 or packed.shape[1] != _KEY_BYTES:
        raise ValueError(f"keys of shape {packed.shape}, expected (n, {_KEY_BYTES})")
    raw = packed.astype(np.uint8, copy=False).tobytes()
    return [raw[i : i + _KEY_BYTES] for i in range(0, len(raw), _KEY_BYTES)]


class EmbeddingCache:
    """Persistent ``text -> vector`` store for one embedding model.

    Args:
        cache_dir: root folder shared by all models (``~`` is expanded); created on first write.
        model_name: the model's name; part of every key and the name of its sub-folder.
        max_chunks: merge the model's chunks into one when a load finds more than this many.
    """

    def __init__(self, cache_dir: str | Path, model_name: str, *, max_chunks: int = 32) -> None:
        self.model_name = model_name
        self.directory = expand_path(cache_dir) / _safe_dir_name(model_name)
        self.max_chunks = max_chunks
        self._index: dict[bytes, int] = {}
        self._vectors: list[np.ndarray] = []  # chunks as loaded or put; rows numbered across them
        self._matrix: np.ndarray | None = None  # concatenation of _vectors, built on demand
        self._n_rows = 0
        self._loaded = False

    def key(self, text: str) -> bytes:
        """The cache key of ``text`` for this model: sha256 of model name, a NUL, then the text."""
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).digest()

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._index)

    @property
    def dim(self) -> int | None:
        """The vector size of stored entries, or ``None`` while the cache is empty."""
        self._ensure_loaded()
        return int(self._vectors[0].shape[1]) if self._vectors else None

    def get_many(self, keys: Sequence[bytes]) -> dict[int, np.ndarray]:
        """Look up keys.

        Args:
            keys: cache keys from :meth:`key`.

        Returns:
            ``position in keys -> vector`` for the keys that are stored (missing keys are absent).
        """
        self._ensure_loaded()
        hits = [(pos, self._index[k]) for pos, k in enumerate(keys) if k in self._index]
        if not hits:
            return {}
        matrix = self._full_matrix()
        rows = matrix[np.fromiter((row for _, row in hits), dtype=np.int64, count=len(hits))]
        return {pos: rows[i] for i, (pos, _) in enumerate(hits)}

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors (one row per key) as a new chunk on disk and in memory.

        Raises:
            ValueError: ``keys`` and ``vectors`` disagree in length, or ``vectors`` is not 2-D.
        """
        if vectors.ndim != 2 or len(keys) != vectors.shape[0]:
            raise ValueError(
                f"embedding cache: {len(keys)} keys for vectors of shape {vectors.shape}; "
                "pass one row per key"
            )
        if not keys:
            return
        self._ensure_loaded()
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        self._write_chunk(list(keys), vecs)
        self._add(list(keys), vecs)

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        start = time.perf_counter()
        paths = sorted(self.directory.glob(_CHUNK_GLOB))
        read: list[Path] = []
        for path in paths:
            try:
                with np.load(path, allow_pickle=False) as data:
                    keys, vecs = _unpack_keys(data["keys"]), data["vectors"]
            except FileNotFoundError:  # merged away by another process between glob and load
                continue
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("embedding cache: skipping unreadable chunk %s (%s)", path, exc)
                continue
            self._add(keys, vecs.astype(np.float32, copy=False))
            read.append(path)
        if read:
            logger.debug(
                "embedding cache: loaded %d vectors from %d chunks in %.3fs",
                len(self._index),
                len(read),
                time.perf_counter() - start,
            )
        if len(read) > self.max_chunks:
            self._merge(read)

    def _add(self, keys: list[bytes], vecs: np.ndarray) -> None:
        if self._vectors and vecs.shape[1] != self._vectors[0].shape[1]:
            raise ValueError(
                f"embedding cache {self.directory}: vectors of size {vecs.shape[1]} do not match stored size "
                f"{self._vectors[0].shape[1]}; use a different cache_dir or model_name per model"
            )
        keep: list[int] = []  # rows not stored yet (two writers may have stored the same text)
        for i, k in enumerate(keys):
            if k not in self._index:
                self._index[k] = self._n_rows + len(keep)
                keep.append(i)
        if not keep:
            return
        self._vectors.append(vecs if len(keep) == len(keys) else vecs[keep])
        self._n_rows += len(keep)
        self._matrix = None

    def _full_matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self._vectors[0] if len(self._vectors) == 1 else np.concatenate(self._vectors)
            self._vectors = [self._matrix]
        return self._matrix

    def _write_chunk(self, keys: list[bytes], vecs: np.ndarray) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"chunk-{time.time_ns():020d}-{uuid.uuid4().hex}.npz"
        tmp = self.directory / f".tmp-{uuid.uuid4().hex}.npz"
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, keys=_pack_keys(keys), vectors=vecs)
            final = self.directory / name
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def _merge(self, paths: list[Path]) -> None:
        matrix = self._full_matrix()
        keys = [b""] * len(self._index)
        for k, row in self._index.items():
            keys[row] = k
        try:
            self._write_chunk(keys, matrix)
        except OSError as exc:  # merging only saves future load time; the chunks are still valid
            logger.warning("embedding cache: could not merge chunks in %s (%s)", self.directory, exc)
            return
        for path in paths:
            path.unlink(missing_ok=True)
        logger.info("embedding cache: merged %d chunks of %s into one", len(paths), self.directory)
