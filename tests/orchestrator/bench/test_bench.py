"""The replay benchmark end to end: a synthetic pool built here, and the paper protocol on shared data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from common.errors import ConfigError
from orchestrator.bench import BenchConfig, load_bench_config, run_bench
from orchestrator.cli import app
from skills.embedding import Embedder

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "bench"
TOPICS = {
    "math": ["What is the derivative of x^{} with respect to x?", "Solve the equation {}x + 3 = 0 for x."],
    "law": [
        "Is a contract signed under duress number {} enforceable?",
        "Which tort covers trespass case {}?",
    ],
}


def _write_gz(path: Path, rows: list[dict[str, Any]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


@pytest.fixture
def synthetic_data(tmp_path: Path) -> Path:
    """120 questions over two topics; 'mathy' is right on math, 'lawyer' on law, 'generalist' on 60%."""
    rng = np.random.default_rng(0)
    rec = tmp_path / "recs"
    rec.mkdir()
    questions, preds = [], {"mathy": [], "lawyer": [], "generalist": [], "guesser": []}
    for i in range(120):
        topic = "math" if i % 2 == 0 else "law"
        gold = "ABCD"[i % 4]
        wrong = "ABCD"[(i + 1) % 4]
        questions.append(
            {
                "question_id": str(i),
                "question": TOPICS[topic][i % 2].format(i),
                "options": ["w", "x", "y", "z"],
                "answer": gold,
                "category": topic,
                "src": "synthetic",
            }
        )
        right = {
            "mathy": topic == "math",
            "lawyer": topic == "law",
            "generalist": rng.random() < 0.6,
            "guesser": rng.random() < 0.25,
        }
        for m, ok in right.items():
            pred = gold if ok else wrong
            preds[m].append({"question_id": str(i), "pred": pred, "text": f"The answer is ({pred})."})
    _write_gz(rec / "questions.jsonl.gz", questions)
    for m, rows in preds.items():
        _write_gz(rec / f"{m}.jsonl.gz", rows[:-3] if m == "guesser" else rows)  # 3 missing recordings
    return tmp_path


def _config(**over: Any) -> BenchConfig:
    raw: dict[str, Any] = {
        "name": "synthetic",
        "recordings": "recs",
        "data": {"kind": "random_split", "profile_fraction": 0.5, "seed": 1},
        "pool": [{"name": m, "engine": "replay"} for m in ("generalist", "mathy", "lawyer", "guesser")],
        "methods": [
            {"name": "paper", "policy": "paper", "k": 3},
            {
                "name": "ours",
                "policy": "knn_top_k",
                "k": 2,
                "aggregation": "stacked",
                "options": {"neighbours": 10},
            },
            {
                "name": "adaptive",
                "policy": "adaptive_k",
                "k": 1,
                "options": {"k_max": 3},
                "aggregation": "weighted",
            },
        ],
        "best_policy": "ours",
    }
    raw.update(over)
    return BenchConfig.model_validate(raw)


def test_synthetic_bench_end_to_end(synthetic_data: Path, tmp_path: Path, minilm: Any) -> None:
    embedder = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    report, traces = run_bench(_config(), synthetic_data, embedder=embedder)
    m = report.methods
    assert set(m) >= {"best_single", "top3_majority", "all_majority", "random_3", "paper", "ours", "oracle"}
    assert m["oracle"].accuracy >= m["ours"].accuracy
    # routing to the specialist beats any fixed expert by a wide margin
    assert m["ours"].accuracy >= m["best_single"].accuracy + 20
    assert m["ours"].calls_per_question == 2.0
    assert 1.0 <= m["adaptive"].calls_per_question <= 3.0
    assert all(e["loads"] == 1 for e in report.engines.values())  # once per run (one expert stage)
    assert report.missing_recordings == 3
    assert len(traces) == 3 * report.n_test
    assert {t.method for t in traces} == {"paper", "ours", "adaptive"}
    written = report.write(tmp_path / "out", traces)
    assert all(p.exists() and p.stat().st_size > 0 for p in written)
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["best_policy"] == "ours" and saved["methods"]["ours"]["n"] == report.n_test
    # a warm second run embeds nothing
    again = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    run_bench(_config(), synthetic_data, embedder=again)
    assert again.computed == 0


def test_bench_is_deterministic_for_a_seed(synthetic_data: Path, tmp_path: Path, minilm: Any) -> None:
    embedder = Embedder(cache_dir=tmp_path / "emb", model=minilm)
    a, _ = run_bench(_config(), synthetic_data, embedder=embedder)
    b, _ = run_bench(_config(), synthetic_data, embedder=embedder)
    assert {k: v.correct for k, v in a.methods.items()} == {k: v.correct for k, v in b.methods.items()}


def test_cli_bench_writes_the_report(synthetic_data: Path, tmp_path: Path) -> None:
    cfg_path = tmp_path / "bench.yaml"
    cfg = _config(methods=[], best_policy=None).model_dump(mode="json")
    cfg_path.write_text(json.dumps(cfg))  # JSON is YAML
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["bench", str(cfg_path), "--data-dir", str(synthetic_data), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["methods"]["best_single"]["accuracy"] > 0
    assert "oracle" in result.output


def test_cli_reports_missing_data_and_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\npool: []\n")
    result = CliRunner().invoke(app, ["bench", str(bad), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "bench config" in " ".join(result.output.split())
    typo = tmp_path / "typo.yaml"
    typo.write_text("name: x\npool: [{name: a, engine: replay}]\ntypo: 1\n")
    with pytest.raises(ConfigError, match=r"(?s)typo.yaml.*typo"):
        load_bench_config(typo)
    good = CONFIGS / "mmlu_pro_paper_small.yaml"
    result = CliRunner().invoke(app, ["bench", str(good), "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_shipped_configs_validate() -> None:
    from orchestrator.bench.suite import expand_configs

    singles = [p for p in CONFIGS.glob("*.yaml") if p.name != "suite.yaml"]
    for path in singles:
        cfg = load_bench_config(path)
        assert cfg.best_policy in {m.name for m in cfg.methods}
    suite = expand_configs([CONFIGS / "suite.yaml"])
    assert [p.name for p in suite] == [
        "mmlu_pro_paper_small.yaml", "gpqa_diamond.yaml", "math500.yaml", "bbh.yaml", "humaneval.yaml"
    ]  # fmt: skip


@pytest.mark.shared_data
def test_paper_protocol_baselines_reproduce_the_reference(shared_data_dir: Path) -> None:
    """Best single 46.26, top-3 majority 48.93, all majority 47.83, oracle 81.75 on 2,099 questions."""
    cfg = load_bench_config(CONFIGS / "mmlu_pro_paper_small.yaml").model_copy(
        update={"methods": [], "best_policy": None}
    )
    report, _ = run_bench(cfg, shared_data_dir)
    acc = {k: round(v.accuracy, 2) for k, v in report.methods.items()}
    assert report.n_test == 2099 and report.n_profile == 350
    assert acc["best_single"] == 46.26
    assert acc["top3_majority"] == 48.93
    assert acc["all_majority"] == 47.83
    assert acc["oracle"] == 81.75
    assert report.methods["best_single"].correct == 971


@pytest.mark.shared_data
@pytest.mark.slow
def test_paper_protocol_best_policy_on_a_slice(shared_data_dir: Path, tmp_path: Path, minilm: Any) -> None:
    """The whole bench (with routing) on the first 300 test questions, through real recordings."""
    cfg = load_bench_config(CONFIGS / "mmlu_pro_paper_small.yaml").model_copy(update={"limit": 300})
    report, traces = run_bench(
        cfg, shared_data_dir, embedder=Embedder(cache_dir=tmp_path / "emb", model=minilm)
    )
    m = report.methods
    assert report.n_test == 300
    assert m["ours"].calls_per_question <= 5.0
    assert m["ours"].accuracy >= m["best_single"].accuracy
    assert 0.9 < (report.extractor_agreement or 0) <= 1.0
    assert all(t.routing is not None and t.routing.experts for t in traces)
