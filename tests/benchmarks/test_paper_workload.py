"""The paper's workload without weights: real architectures built locally, grouped vs naive on tiny shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.tools.paper_workload import PaperWorkloadConfig, paper_workload_table, run_paper_workload
from zoo.paper_pool import ARCHITECTURES, build_paper_pool, paper_experts


def test_real_scale_writes_published_shapes_and_no_weights(tmp_path: Path) -> None:
    pool = build_paper_pool(tmp_path, scale="real")
    assert set(pool) == {a.name for a in ARCHITECTURES}
    llama = json.loads((pool["llama3-8b"] / "config.json").read_text())
    assert (llama["model_type"], llama["hidden_size"], llama["num_key_value_heads"]) == ("llama", 4096, 8)
    gemma = json.loads((pool["gemma-7b"] / "config.json").read_text())
    assert (gemma["model_type"], gemma["head_dim"], gemma["vocab_size"]) == ("gemma", 256, 256000)
    for folder in pool.values():
        assert (folder / "tokenizer.json").is_file()
        assert not list(folder.glob("*.safetensors"))  # vLLM's dummy load format fills the weights
    experts = paper_experts(pool)
    assert len(experts) == 16 and len({e for e, _ in experts}) == 16
    assert all(
        a != b for (_, a), (_, b) in zip(experts, experts[1:], strict=False)
    )  # every swap changes model


def test_tiny_grouped_loads_each_model_once_and_naive_per_question(tmp_path: Path) -> None:
    cfg = PaperWorkloadConfig(
        questions=3, naive_questions=1, experts_per_question=2, max_tokens=2, models_dir=str(tmp_path)
    )
    result = run_paper_workload(cfg)
    types = {json.loads((p / "config.json").read_text())["model_type"] for p in tmp_path.iterdir()}
    assert types == {"llama", "qwen2", "gemma", "mistral"}
    assert len(result.experts) == 16
    assert result.naive.loads == 1 * (2 + 1)  # the question's experts and the aggregator, each loaded
    assert result.grouped.loads <= 3 * 2 + 1  # at most once per distinct expert, plus the aggregator
    assert result.grouped.generated_tokens > 0 and result.naive.generated_tokens > 0
    assert result.grouped.per_question_s < result.naive.per_question_s
    assert result.grouped.peak_gpu_gib is None  # CPU
    assert "naive / grouped" in str(paper_workload_table(result).columns[0]._cells)


def test_unknown_aggregator_is_a_config_error(tmp_path: Path) -> None:
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match="aggregator 'nobody'"):
        run_paper_workload(PaperWorkloadConfig(questions=1, aggregator="nobody", models_dir=str(tmp_path)))
