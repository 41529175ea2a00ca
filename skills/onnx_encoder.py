"""A sentence encoder on ONNX Runtime, exported once and locally from a sentence-transformers folder.

The export (:func:`export_onnx`) runs ``torch.onnx.export`` on the folder's transformer, fuses BERT's
attention and layer norms with ONNX Runtime's transformer optimizer, and, for the ``int8`` variant,
quantizes the weights of the matrix products (dynamic quantization, per channel). It writes into
``$SYMOE_HOME/onnx/<model>/`` through a temporary name, so concurrent processes never see half a file;
nothing is downloaded. Once exported, encoding needs only ``onnxruntime`` and ``tokenizers``: torch is
not imported, which alone saves seconds of CPU per cold process.

:class:`OnnxSentenceEncoder` mirrors the part of ``SentenceTransformer`` that
:class:`~skills.embedding.Embedder` calls (``encode`` with ``normalize_embeddings``,
``get_sentence_embedding_dimension``), and computes what the folder's modules do: tokenize with its
``tokenizer.json`` (truncated to ``max_seq_length``), run the transformer, mean-pool over the attention
mask, L2-normalise. Batches are made of texts of similar token length (sorted, as sentence-transformers
sorts them), so padding costs little.

Example::

    encoder = OnnxSentenceEncoder.from_folder(default_model_path(), precision="fp32")
    vecs = encoder.encode(["What is 2 + 2?"], normalize_embeddings=True)   # (1, 384) float32
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from common.errors import ConfigError
from common.settings import expand_path

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "int8"]
DEFAULT_ONNX_DIR = "$SYMOE_HOME/onnx"
"""Where exported models are kept, one folder per model name."""
EXPORT_VERSION = 1
"""Bumped whenever the export recipe changes what the files compute (old exports are then redone)."""
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _model_file(folder: Path, precision: Precision) -> Path:
    return folder / ("model.onnx" if precision == "fp32" else "model-int8.onnx")


def _source_stamp(model_path: Path) -> dict[str, Any]:
    """What identifies the source model: its weight files' names and sizes, and the recipe version."""
    weights = sorted(p for p in model_path.glob("*") if p.suffix in (".safetensors", ".bin"))
    return {
        "export_version": EXPORT_VERSION,
        "source": str(model_path.resolve()),
        "weights": {p.name: p.stat().st_size for p in weights},
    }


def export_onnx(
    model_path: str | Path,
    out_dir: str | Path,
    precision: Precision = "fp32",
) -> Path:
    """Export a sentence-transformers folder's transformer to ONNX (once; later calls return the file).

    Args:
        model_path: the sentence-transformers model folder (a BERT-style encoder such as MiniLM).
        out_dir: the folder for this model's exports (``$SYMOE_HOME`` and ``~`` expanded).
        precision: ``fp32`` (same vectors as torch up to float rounding) or ``int8`` (weights of the
            matrix products quantized; faster, vectors differ slightly).

    Returns:
        The ``.onnx`` file.

    Raises:
        ConfigError: ``torch``, ``transformers`` or ``onnx`` is missing (needed for the export only).
    """
    source, folder = Path(model_path), expand_path(out_dir)
    target = _model_file(folder, precision)
    stamp = _source_stamp(source)
    stamp_file = folder / "export.json"
    if target.is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = _model_file(folder, "fp32")
    if not (fp32.is_file() and stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        _export_fp32(source, fp32)
        _write_atomic(stamp_file, json.dumps(stamp, indent=1).encode())
        logger.info(
            "embedding: exported %s to ONNX in %.1fs (%.1fs CPU)",
            source.name,
            time.perf_counter() - start_wall,
            time.process_time() - start_cpu,
        )
    if precision == "int8":
        _quantize(fp32, target)
    return target


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _export_fp32(source: Path, target: Path) -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import torch
        from onnxruntime.transformers.optimizer import optimize_model
        from transformers import AutoConfig, AutoModel
    except ImportError as exc:
        raise ConfigError(
            f"embedding backend onnx: exporting {source} needs torch, transformers, onnx and onnxruntime "
            f"({exc}); pip install onnx onnxruntime, or use backend 'torch'"
        ) from exc

    config = AutoConfig.from_pretrained(source)
    model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()

    class _LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    dummy = torch.ones(2, 8, dtype=torch.long)
    raw = target.with_name(f".tmp-{uuid.uuid4().hex}-raw.onnx")
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    try:
        # the tracer warns about every Python branch it freezes (shape checks of the attention mask);
        # the dynamic axes cover what varies, and the tests compare the result with torch's vectors
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LastHidden(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(raw),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
            )
        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        optimized.save_model_to_file(str(tmp))
        os.replace(tmp, target)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def _quantize(fp32: Path, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        quantize_dynamic(
            str(fp32),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            # the fused attention nodes are in Microsoft's domain, which shape inference cannot type
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


class OnnxSentenceEncoder:
    """Mean-pooled sentence embeddings from an exported transformer on ONNX Runtime.

    Args:
        onnx_file: the exported model (:func:`export_onnx`).
        tokenizer_file: the folder's ``tokenizer.json``.
        max_seq_length: tokens kept per text (the folder's ``sentence_bert_config.json`` value).
        threads: ONNX Runtime intra-op threads (None: one per core). Threads do not spin while idle,
            so a machine shared with other work loses no CPU to waiting.
    """

    def __init__(
        self,
        onnx_file: str | Path,
        tokenizer_file: str | Path,
        *,
        max_seq_length: int = 256,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.onnx_file = Path(onnx_file)
        self.max_seq_length = max_seq_length
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()  # the file pads to a fixed 128; batches pad to their longest text
        self._tokenizer.enable_truncation(max_seq_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._dim = int(self._session.get_outputs()[0].shape[-1])

    @classmethod
    def from_folder(
        cls,
        model_path: str | Path,
        *,
        name: str | None = None,
        precision: Precision = "fp32",
        onnx_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> OnnxSentenceEncoder:
        """Export ``model_path`` if needed (into ``onnx_dir/<name>``) and open it.

        Args:
            model_path: a sentence-transformers folder with ``tokenizer.json``.
            name: the model's name, the export's folder name (default: the folder's name).
            precision: ``fp32`` or ``int8``.
            onnx_dir: the export root (default ``$SYMOE_HOME/onnx``).
            threads: ONNX Runtime intra-op threads (None: one per core).
        """
        source = Path(model_path)
        tokenizer = source / "tokenizer.json"
        if not tokenizer.is_file():
            raise ConfigError(f"embedding backend onnx: {source} has no tokenizer.json; use backend 'torch'")
        folder = re.sub(r"[^A-Za-z0-9._-]+", "__", name or source.name).strip("_") or "model"
        onnx_file = export_onnx(source, Path(onnx_dir or DEFAULT_ONNX_DIR) / folder, precision)
        return cls(onnx_file, tokenizer, max_seq_length=_max_seq_length(source), threads=threads)

    def get_sentence_embedding_dimension(self) -> int:
        """The vector size (as ``SentenceTransformer`` names it)."""
        return self._dim

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = True,
    ) -> np.ndarray:
        """Embed ``sentences`` (``SentenceTransformer.encode``'s arguments; the result is always numpy).

        Returns:
            A ``(len(sentences), dim)`` float32 array in input order; rows are unit-norm when
            ``normalize_embeddings``.
        """
        del show_progress_bar, convert_to_numpy  # library code draws no bars; numpy is the only output
        out = np.zeros((len(sentences), self._dim), dtype=np.float32)
        if not sentences:
            return out
        encodings = self._tokenizer.encode_batch(list(sentences))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for first in range(0, len(order), batch_size):
            rows = order[first : first + batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _run(self, encodings: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n], types[row, :n], mask[row, :n] = enc.ids, enc.type_ids, 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (hidden,) = self._session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})
        weights = mask[..., None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled.astype(np.float32, copy=False)


def _max_seq_length(model_path: Path) -> int:
    """The folder's ``max_seq_length`` (sentence-transformers' truncation), 256 when it states none."""
    config = model_path / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return 256
