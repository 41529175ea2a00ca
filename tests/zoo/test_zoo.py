"""The skill zoo: seeded task generators, benchmark files, and the committed experts' recorded accuracy."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import zoo as zoo
from common.errors import ConfigError
from common.records import AnswerFormat
from orchestrator.answers import extract_answer, is_correct
from orchestrator.datasets.questions import load_questions, question_instance
from orchestrator.pool import load_pool_config
from orchestrator.prompts import expert_prompt
from zoo import (
    SKILLS,
    ZOO_DATA_DIR,
    ZOO_SPECS,
    ZOO_WEIGHTS_DIR,
    generate_question,
    generate_split,
    read_rows,
    resolve_zoo_model,
    write_rows,
    zoo_splits,
)

REPO = Path(__file__).resolve().parents[2]
RECORD_PATH = ZOO_WEIGHTS_DIR / "training_record.json"
MATH = AnswerFormat(kind="math")

_FACTORS = {
    ("meters", "centimeters"): 100,
    ("kilometers", "meters"): 1000,
    ("kilograms", "grams"): 1000,
    ("hours", "minutes"): 60,
    ("minutes", "seconds"): 60,
    ("days", "hours"): 24,
    ("weeks", "days"): 7,
    ("feet", "inches"): 12,
    ("years", "months"): 12,
}


def _roman(n: int) -> str:
    """Roman numeral of 1 <= n <= 99 by the subtractive rule, digit by digit."""
    tens = ["", "X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"]
    units = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"]
    return tens[n // 10] + units[n % 10]


def _recompute(skill: str, question: str) -> str:
    """The answer of a zoo question, worked out from its text alone (independently of the generators)."""
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    quoted = re.findall(r"'([A-Z]+)'", question)
    if skill == "add":
        return str(sum(numbers))
    if skill == "roman":
        return f"\\text{{{_roman(numbers[0])}}}"
    if skill == "mul":
        return str(math.prod(numbers))
    if skill == "reverse":
        return f"\\text{{{quoted[0][::-1]}}}"
    if skill == "sort":
        return f"\\text{{{''.join(sorted(quoted[0]))}}}"
    if skill == "alphabet":
        return f"\\text{{{chr(ord(quoted[0]) + numbers[0])}}}"  # always forward
    if skill == "convert":
        units = re.findall(r"[a-z]+", question)
        for (src, dst), factor in _FACTORS.items():
            if src in units and dst in units:
                # "How many DST are in N SRC?" names DST first; the other templates name SRC first
                first, second = (dst, src) if question.startswith("How many") else (src, dst)
                if units.index(first) < units.index(second):
                    return str(numbers[0] * factor)
        raise AssertionError(f"no conversion found in {question!r}")
    raise AssertionError(f"unknown skill {skill}")


def _score(text: str | None, gold: str) -> bool:
    return is_correct(extract_answer(text, MATH), gold, MATH)


# -- generators and files ----------------------------------------------------------------------------


def test_public_api_matches_all() -> None:
    import types

    public = {  # submodules become attributes once imported; they are not the package's API
        n
        for n in dir(zoo)
        if not n.startswith("_") and n != "annotations" and not isinstance(getattr(zoo, n), types.ModuleType)
    }
    assert public == set(zoo.__all__)


def test_generate_split_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    rows = generate_split(5, 8)
    assert rows == generate_split(5, 8)
    assert rows != generate_split(6, 8)
    assert [r["category"] for r in rows] == [s for s in SKILLS for _ in range(8)]
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(len({r["question"] for r in rows if r["category"] == s}) == 8 for s in SKILLS)
    # one skill's questions do not depend on which other skills are drawn
    assert generate_split(5, 8, ("sort",)) == [r for r in rows if r["category"] == "sort"]
    loaded = load_questions(write_rows(rows, tmp_path / "q.jsonl")).instances
    assert [i.gold for i in loaded] == [r["answer"] for r in rows]
    assert {i.answer_format.kind for i in loaded} == {"math"}


@pytest.mark.parametrize("skill", SKILLS)
def test_answers_are_correct(skill: str) -> None:
    rng = random.Random(f"check-{skill}")
    for _ in range(200):
        q = generate_question(skill, rng)
        assert q.answer == _recompute(skill, q.question), q
        # the reply format the experts are trained on scores as correct under the project's scorer
        assert _score(zoo.answer_text(q.answer), q.answer), q


def test_unknown_skill_is_rejected() -> None:
    with pytest.raises(KeyError, match="available: add"):
        generate_question("divide", random.Random(0))


def test_string_answers_do_not_match_anagrams() -> None:
    # math-verify reads a bare ABC as a product, so without \text{} any anagram would score correct
    assert _score("The answer is \\boxed{\\text{CBA}}.", "\\text{CBA}")
    assert not _score("The answer is \\boxed{\\text{ABC}}.", "\\text{CBA}")
    assert not _score("The answer is \\boxed{ABC}.", "\\text{CBA}")


def test_benchmark_files_are_the_seeded_splits() -> None:
    splits = zoo_splits()
    for name in ("validation", "test"):
        assert read_rows(ZOO_DATA_DIR / f"zoo_{name}.jsonl") == splits[name]
    questions = [{r["question"] for r in rows} for rows in splits.values()]
    assert all(not (a & b) for i, a in enumerate(questions) for b in questions[i + 1 :])


# -- committed experts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    return json.loads(RECORD_PATH.read_text(encoding="utf-8"))


def test_record_and_weights_cover_the_zoo(record: dict[str, Any]) -> None:
    assert set(record["experts"]) == {s.name for s in ZOO_SPECS}
    sizes = {s.name: (ZOO_WEIGHTS_DIR / s.name / "model.safetensors").stat().st_size for s in ZOO_SPECS}
    assert max(sizes.values()) < 3 * 2**20, sizes
    total = sum(p.stat().st_size for p in ZOO_WEIGHTS_DIR.rglob("*") if p.is_file())
    assert total < 22 * 2**20  # the six experts, the reader (4.6 MB), three recall experts (2.3 MB each)
    summary = record["test_summary"]
    assert summary["oracle_routing"]["accuracy"] >= summary["best_single"]["accuracy"] + 0.15
    assert summary["oracle_routing"]["accuracy"] >= summary["top_k_majority"]["accuracy"] + 0.05


@pytest.mark.parametrize("skill", SKILLS)
def test_each_skill_has_one_competent_expert(skill: str, record: dict[str, Any]) -> None:
    """Routing relies on it: only the skill's specialist scores above 50% on its validation questions."""
    accuracy = {n: e["validation"]["per_skill"][skill] for n, e in record["experts"].items()}
    competent = [n for n, a in accuracy.items() if a > 0.5]
    assert len(competent) == 1, accuracy
    assert skill in next(s for s in ZOO_SPECS if s.name == competent[0]).skills
    assert accuracy[competent[0]] >= 0.8


@pytest.mark.parametrize("pool", ["zoo-cpu.yaml", "zoo-cpu-vllm.yaml"])
def test_pool_configs_name_committed_experts(pool: str) -> None:
    cfg = load_pool_config(REPO / "configs" / "pools" / pool)
    assert {m.name for m in cfg.experts} == {s.name for s in ZOO_SPECS}
    for m in cfg.experts:
        assert Path(resolve_zoo_model(m.model_id), "model.safetensors").is_file()


def test_resolve_zoo_model_errors_name_the_fix() -> None:
    assert resolve_zoo_model("some/hub-model") == "some/hub-model"
    with pytest.raises(ConfigError, match="available: zoo-"):
        resolve_zoo_model("zoo:nope")


def _accuracy(engine: Any, rows: Sequence[dict[str, Any]]) -> float:
    from common.generation import GenRequest, SamplingParams

    prompts = [expert_prompt(question_instance(r, 0)) for r in rows]
    sampling = SamplingParams(temperature=0.0, max_tokens=32)
    results = engine.generate(
        [
            GenRequest(request_id=str(i), prompt=p, messages=(("user", p),), sampling=sampling)
            for i, p in enumerate(prompts)
        ]
    )
    return sum(_score(res.text, r["answer"]) for res, r in zip(results, rows, strict=True)) / len(rows)


def _tolerance(p: float, n_fresh: int, n_recorded: int) -> float:
    """Three standard errors of the difference of two binomial accuracies, at least 10 points."""
    se = math.sqrt(max(p * (1 - p), 0.02) * (1 / n_fresh + 1 / n_recorded))
    return max(0.10, 3 * se)


@pytest.mark.parametrize("spec", ZOO_SPECS, ids=lambda s: s.name)
def test_committed_expert_matches_its_record(spec: Any, record: dict[str, Any]) -> None:
    """Fresh questions (a seed no split uses) through TransformersEngine reproduce the recorded accuracy."""
    from batching.config import TransformersExpertConfig
    from batching.engines.hf_engine import TransformersEngine

    entry = record["experts"][spec.name]
    recorded = entry["eval"]["per_skill"]
    n_recorded = record["splits"]["eval"]["per_skill"]
    own = list(spec.skills) or list(SKILLS)
    off = [s for s in SKILLS if s not in own]
    cfg = TransformersExpertConfig(name=spec.name, model=str(ZOO_WEIGHTS_DIR / spec.name), dtype="float32")
    engine = TransformersEngine(cfg)
    try:
        for group, n_per in ((own, 60 // len(own)), (off, 60 // max(1, len(off)))):
            if not group:
                continue
            rows = generate_split(4004, n_per, group)
            fresh = _accuracy(engine, rows)
            expected = sum(recorded[s] for s in group) / len(group)
            tol = _tolerance(expected, len(rows), n_recorded * len(group))
            assert abs(fresh - expected) <= tol, (spec.name, group, fresh, expected, tol)
    finally:
        engine.close()
    if spec.skills:  # a specialist: good at its skills, poor elsewhere
        own_acc = sum(recorded[s] for s in own) / len(own)
        off_acc = sum(recorded[s] for s in off) / len(off)
        assert own_acc >= 0.7 and off_acc <= 0.3, (own_acc, off_acc)


def test_training_is_deterministic_and_learns(tmp_path: Path) -> None:
    """``train_steps`` (shared by the experts and the reader): the same spec gives the same weights twice,
    and the loss falls from its first step."""
    import dataclasses

    import torch
    from safetensors.torch import load_file

    from orchestrator.bench.demo import zoo_task_format
    from zoo.train import build_zoo_tokenizer, tokenizer_corpus, train_expert

    fmt = zoo_task_format()
    tokenizer = build_zoo_tokenizer(tokenizer_corpus(fmt, n_per_skill=20), vocab_size=256)
    spec = dataclasses.replace(zoo.ZOO_SPECS[0], hidden_size=32, num_layers=1, num_heads=1,
                               intermediate_size=64, steps=30, batch_size=8)  # fmt: skip
    facts = [train_expert(spec, tokenizer, fmt, tmp_path / f"run{i}", log_every=1000) for i in range(2)]
    a, b = (load_file(tmp_path / f"run{i}" / "model.safetensors") for i in range(2))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert facts[0]["final_loss"] == facts[1]["final_loss"] < math.log(len(tokenizer))
