"""The ONNX Runtime embedding backends: exported once, the same vectors and neighbours as torch, own cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.errors import ConfigError
from skills.embedding import DEFAULT_MODEL_NAME, Embedder, default_model_path, resolve_backend
from skills.onnx_encoder import OnnxSentenceEncoder, export_onnx

TEXTS = [
    "What is the derivative of x^2 with respect to x?",
    "contract law",
    "Which enzyme reduces acetaldehyde to ethanol? " * 30,  # longer than max_seq_length: truncated
    "organic chemistry",
    "The Treaty of Westphalia ended which war?",
]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per session (fp32 and int8) of the packaged MiniLM into a temporary folder."""
    folder = tmp_path_factory.mktemp("onnx") / "all-MiniLM-L6-v2"
    export_onnx(default_model_path(), folder, "int8")  # makes the fp32 file first
    return folder


def test_resolve_backend_reads_the_setting_and_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMOE_EMBEDDING_BACKEND", "onnx-int8")
    assert resolve_backend() == "onnx-int8"
    assert resolve_backend("torch") == "torch"
    monkeypatch.delenv("SYMOE_EMBEDDING_BACKEND")
    assert resolve_backend() in ("onnx", "torch")  # auto: onnx wherever onnxruntime is installed
    with pytest.raises(ConfigError, match="expected one of"):
        resolve_backend("tensorflow")


def test_int8_vectors_have_their_own_cache_name(monkeypatch: pytest.MonkeyPatch, minilm: Any) -> None:
    assert Embedder(cache_dir=None, backend="onnx").model_name == DEFAULT_MODEL_NAME
    assert Embedder(cache_dir=None, backend="onnx-int8").model_name == DEFAULT_MODEL_NAME + "-int8"
    monkeypatch.setenv("SYMOE_EMBEDDING_BACKEND", "onnx-int8")
    assert Embedder(cache_dir=None, model=minilm).backend == "torch"  # a given model decides


@pytest.mark.slow
def test_fp32_export_gives_torch_vectors(onnx_dir: Path, minilm: Any) -> None:
    encoder = OnnxSentenceEncoder(onnx_dir / "model.onnx", Path(default_model_path()) / "tokenizer.json")
    ours = encoder.encode(TEXTS, batch_size=2, normalize_embeddings=True)
    ref = minilm.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == ref.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, ref, atol=2e-5)
    assert encoder.get_sentence_embedding_dimension() == 384


@pytest.mark.slow
def test_int8_vectors_keep_the_neighbours(onnx_dir: Path, minilm: Any) -> None:
    encoder = OnnxSentenceEncoder(onnx_dir / "model-int8.onnx", Path(default_model_path()) / "tokenizer.json")
    ours = encoder.encode(TEXTS, normalize_embeddings=True)
    ref = minilm.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert float(np.min(np.sum(ours * ref, axis=1))) > 0.95
    np.testing.assert_array_equal(
        np.argsort(-(ours @ ours.T), axis=1)[:, :2], np.argsort(-(ref @ ref.T), axis=1)[:, :2]
    )


@pytest.mark.slow
def test_export_runs_once_and_embedder_uses_it(
    onnx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()}
    assert export_onnx(default_model_path(), onnx_dir, "fp32") == onnx_dir / "model.onnx"
    assert {p.name: p.stat().st_mtime_ns for p in onnx_dir.iterdir()} == before  # nothing redone
    home = tmp_path / "home"
    (home / "onnx").mkdir(parents=True)
    os.symlink(onnx_dir, home / "onnx" / DEFAULT_MODEL_NAME)
    monkeypatch.setenv("SYMOE_HOME", str(home))
    embedder = Embedder(cache_dir=tmp_path / "cache", backend="onnx")
    vecs = embedder.embed(TEXTS[:2])
    assert isinstance(embedder.model, OnnxSentenceEncoder)
    assert embedder.model.onnx_file.resolve() == (onnx_dir / "model.onnx").resolve()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    assert Embedder(cache_dir=tmp_path / "cache", backend="torch").embed(TEXTS[:2]).shape == (2, 384)
