"""Embedder and its disk cache: warm runs compute nothing, vectors survive restarts, loads are fast."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.errors import ConfigError
from skills.embedding import DEFAULT_MODEL_NAME, Embedder
from skills.embedding_cache import EmbeddingCache

TEXTS = ["What is the derivative of x^2?", "contract law", "What is the derivative of x^2?"]


def test_embed_returns_unit_float32_rows(embedder: Embedder) -> None:
    vecs = embedder.embed(TEXTS)
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vecs[0], vecs[2])
    assert embedder.computed == 2  # the duplicate is encoded once


def test_warm_run_computes_zero_and_returns_identical_vectors(tmp_path: Path, minilm: Any) -> None:
    cold = Embedder(cache_dir=tmp_path, model=minilm)
    first = cold.embed(TEXTS)
    warm = Embedder(cache_dir=tmp_path, model=minilm)
    second = warm.embed(TEXTS)
    assert warm.computed == 0
    np.testing.assert_array_equal(first, second)


def test_partially_warm_run_computes_only_new_texts(tmp_path: Path, minilm: Any) -> None:
    Embedder(cache_dir=tmp_path, model=minilm).embed(TEXTS)
    again = Embedder(cache_dir=tmp_path, model=minilm)
    again.embed([TEXTS[1], "organic chemistry"])
    assert again.computed == 1


def test_model_loads_lazily_from_the_packaged_folder(tmp_path: Path) -> None:
    lazy = Embedder(cache_dir=tmp_path)
    assert lazy._model is None
    assert lazy.embed(["algebra"]).shape == (1, 384)
    assert lazy._model is not None


def test_memory_only_embedder_caches_within_the_instance(minilm: Any) -> None:
    emb = Embedder(cache_dir=None, model=minilm)
    emb.embed(["algebra"])
    emb.embed(["algebra"])
    assert emb.computed == 1


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_bad_batch_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="batch_size=0"):
        Embedder(batch_size=0, cache_dir=None)


def _random_unit(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    vecs = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_warm_load_of_15k_vectors_is_fast(tmp_path: Path) -> None:
    texts = [f"question {i}" for i in range(15_000)]
    writer = EmbeddingCache(tmp_path, DEFAULT_MODEL_NAME)
    vecs = _random_unit(len(texts))
    for start in range(0, len(texts), 5_000):  # three chunks, as three runs would leave
        chunk = texts[start : start + 5_000]
        writer.put([writer.key(t) for t in chunk], vecs[start : start + 5_000])

    begin = time.perf_counter()
    reader = EmbeddingCache(tmp_path, DEFAULT_MODEL_NAME)
    found = reader.get_many([reader.key(t) for t in texts])
    elapsed = time.perf_counter() - begin

    assert len(found) == len(texts)
    np.testing.assert_array_equal(np.stack([found[i] for i in range(len(texts))]), vecs)
    assert elapsed < 0.5, f"warm load of 15k vectors took {elapsed:.2f}s"
    assert len(list((tmp_path / DEFAULT_MODEL_NAME).glob("chunk-*.npz"))) == 3


def test_two_writers_with_overlapping_texts_merge_cleanly(tmp_path: Path) -> None:
    a, b = EmbeddingCache(tmp_path, "m"), EmbeddingCache(tmp_path, "m")
    assert len(a) == len(b) == 0  # both load the (empty) cache before either writes
    vecs = _random_unit(3)
    a.put([a.key("x"), a.key("y")], vecs[:2])
    b.put([b.key("y"), b.key("z")], vecs[1:])  # b never saw a's "y": it is stored twice on disk
    reader = EmbeddingCache(tmp_path, "m")
    assert len(reader) == 3
    found = reader.get_many([reader.key(t) for t in "xyz"])
    np.testing.assert_array_equal(np.stack([found[i] for i in range(3)]), vecs)


def test_many_chunks_are_merged_into_one(tmp_path: Path) -> None:
    writer = EmbeddingCache(tmp_path, "m")
    vecs = _random_unit(5)
    for i in range(5):
        writer.put([writer.key(str(i))], vecs[i : i + 1])
    folder = tmp_path / "m"
    assert len(list(folder.glob("chunk-*.npz"))) == 5

    merger = EmbeddingCache(tmp_path, "m", max_chunks=3)
    assert len(merger) == 5
    assert len(list(folder.glob("chunk-*.npz"))) == 1
    assert not list(folder.glob(".tmp-*"))
    found = EmbeddingCache(tmp_path, "m").get_many([writer.key(str(i)) for i in range(5)])
    np.testing.assert_array_equal(np.stack([found[i] for i in range(5)]), vecs)


def test_keys_ending_in_nul_bytes_round_trip(tmp_path: Path) -> None:
    # numpy's fixed-width bytes dtype would strip a trailing NUL; the cache must not.
    text = next(
        f"t{i}" for i in range(100_000) if hashlib.sha256(f"m\0t{i}".encode()).digest().endswith(b"\0")
    )
    writer = EmbeddingCache(tmp_path, "m")
    assert writer.key(text).endswith(b"\0")
    writer.put([writer.key(text)], _random_unit(1))
    reader = EmbeddingCache(tmp_path, "m")
    assert reader.get_many([reader.key(text)]).keys() == {0}


def test_unreadable_chunk_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "chunk-0-broken.npz").write_bytes(b"not a zip file")
    cache = EmbeddingCache(tmp_path, "m")
    with caplog.at_level(logging.WARNING, logger="skills.embedding_cache"):
        assert len(cache) == 0
    assert "unreadable chunk" in caplog.text


def test_put_rejects_misaligned_vectors(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "m")
    with pytest.raises(ValueError, match="one row per key"):
        cache.put([cache.key("a"), cache.key("b")], _random_unit(1))


def test_models_get_separate_folders(tmp_path: Path) -> None:
    a, b = EmbeddingCache(tmp_path, "org/model-a"), EmbeddingCache(tmp_path, "model-b")
    assert a.directory != b.directory
    assert a.key("x") != b.key("x")
