"""Expert costs: parameters parsed from model ids, configured costs, prices per 1k tokens."""

from __future__ import annotations

import pytest

from batching.config import expert_config_adapter
from batching.cost import parameters_b


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("Qwen/Qwen2.5-72B-Instruct", 72.0),
        ("qwen-2.5-7b", 7.0),
        ("Meta-Llama-3_1-8B-Instruct", 8.0),
        ("llama-3.2-1b", 1.0),
        ("Qwen1.5-7B-Chat", 7.0),
        ("Yi-6b-Chat", 6.0),
        ("saiga-nemo-12b", 12.0),
        ("deepseek-v3", 671.0),  # MoE at total parameters
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7),  # published size beats 8 x 7
        ("some-8x3b-moe", 24.0),
        ("gemma-7b", 8.5),
        ("Phi-3-mini-4k-instruct", 3.8),
        ("gpt-4o", None),
        ("gigachat-2-max", None),
    ],
)
def test_parameters_from_model_ids(model_id: str, expected: float | None) -> None:
    assert parameters_b(model_id) == expected


def test_call_cost_precedence() -> None:
    parse = expert_config_adapter.validate_python({"name": "qwen-2.5-32b", "engine": "replay"})
    assert parse.call_cost() == 32.0
    unknown = expert_config_adapter.validate_python({"name": "gigachat-max", "engine": "replay"})
    assert unknown.call_cost() == 1.0
    given = expert_config_adapter.validate_python({"name": "gigachat-max", "engine": "replay", "cost": 100})
    assert given.call_cost(5000) == 100.0
    api = expert_config_adapter.validate_python(
        {
            "name": "gpt",
            "engine": "openai_http",
            "base_url": "http://x/v1",
            "price_per_1k_tokens": 0.01,
            "cost": 3,
        }
    )
    assert api.call_cost(2500) == pytest.approx(0.025)


def test_family_defaults_to_the_expert_itself() -> None:
    a = expert_config_adapter.validate_python({"name": "t-pro-32b", "engine": "replay", "family": "qwen"})
    b = expert_config_adapter.validate_python({"name": "deepseek-v3", "engine": "replay"})
    assert (a.family_name, b.family_name) == ("qwen", "deepseek-v3")
