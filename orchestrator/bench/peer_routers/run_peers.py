"""Run the published routers (LLMRouter, RouteLLM) from their own packages, offline, on a bench's splits.

This file is a subprocess payload: the bench runs it with the Python of the ``peers`` virtualenv (where
``llmrouter-lib`` and ``routellm`` are installed; they never go into the core environment) as::

    PYTHON run_peers.py INPUT.npz OUTPUT.json

It imports nothing from this project. INPUT holds the question embeddings (our MiniLM vectors: they
replace LLMRouter's Longformer and RouteLLM's OpenAI embeddings, so nothing is downloaded), every
expert's correctness and whether it answered, each expert's cost, and the splits (training and test
rows). OUTPUT holds, per router and split, the expert each test question is sent to (one call per
question), and a note per router that could not run.

LLMRouter's routers label a training question with the first model of the routing table that has its
top score (pandas ``idxmax``), so the table's row order decides ties: rows are written with the model of
the best training accuracy first (the order most favourable to them). RouteLLM's routers are pairwise:
they route between the two best single experts on the training rows (strong = the best), at a win-rate
threshold of 0.5.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else ~30 s of retries on import
os.environ.setdefault("OPENAI_API_KEY", "offline-dummy")  # RouteLLM builds an OpenAI client at import
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

LLMROUTER: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "llmrouter_knn": ("knnrouter", "KNNRouter", "KNNRouterTrainer", {"n_neighbors": 5, "metric": "cosine"}),
    "llmrouter_svm": ("svmrouter", "SVMRouter", "SVMRouterTrainer", {"kernel": "rbf", "C": 1.0}),
    "llmrouter_mlp": (
        "mlprouter",
        "MLPRouter",
        "MLPTrainer",
        {"hidden_layer_sizes": [128, 64], "epochs": 100, "lr": 0.001},
    ),
    "llmrouter_mf": ("mfrouter", "MFRouter", "MFRouterTrainer", {"latent_dim": 128}),
    "llmrouter_elo": ("elorouter", "EloRouter", "EloRouterTrainer", {}),
    "llmrouter_hybrid": ("hybrid_llm", "HybridLLMRouter", "HybridLLMTrainer", {}),
}
ROUTELLM = ("routellm_sw_ranking", "routellm_mf")


def _quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def _write_split(tmp: Path, data: dict[str, Any], train: np.ndarray, order: list[int]) -> None:
    import torch

    emb, correct, answered = data["embeddings"], data["correct"], data["answered"]
    experts, costs = list(data["experts"]), data["costs"]
    torch.save(torch.tensor(emb, dtype=torch.float32), tmp / "emb.pt")
    with open(tmp / "routing.jsonl", "w", encoding="utf-8") as fh:
        for i in train:
            for j in order:  # best training accuracy first: idxmax picks the first top score
                if answered[i, j]:
                    row = {
                        "query": f"q{int(i)}",
                        "model_name": experts[j],
                        "performance": float(correct[i, j]),
                        "embedding_id": int(i),
                        "cost": float(costs[j]),
                        "task_name": "bench",
                    }
                    fh.write(json.dumps(row) + "\n")
    llm = {
        e: {"size": f"{max(float(c), 0.1)}B", "model": e, "embedding": [0.0] * 8}
        for e, c in zip(experts, costs, strict=True)
    }
    (tmp / "llm.json").write_text(json.dumps(llm))


def _yaml(tmp: Path, name: str, hparam: dict[str, Any], text_dim: int) -> Path:
    import yaml

    hp = dict(hparam)
    if name == "llmrouter_mf":
        hp["text_dim"] = text_dim
    cfg = {
        "data_path": {
            "query_embedding_data": str(tmp / "emb.pt"),
            "routing_data_train": str(tmp / "routing.jsonl"),
            "llm_data": str(tmp / "llm.json"),
        },
        "hparam": hp,
        "model_path": {
            "ini_model_path": "",
            "save_model_path": str(tmp / f"{name}.pkl"),
            "load_model_path": str(tmp / f"{name}.pkl"),
        },
        "metric": {"weights": {"performance": 1, "cost": 0, "llm_judge": 0}},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_llmrouter(
    name: str, data: dict[str, Any], splits: list[tuple[np.ndarray, np.ndarray]]
) -> list[list[int]]:
    """One LLMRouter router over every split: build it from its YAML, train it, route each test question."""
    import importlib

    import torch

    module, router_cls, trainer_cls, hparam = LLMROUTER[name]
    pkg = importlib.import_module(f"llmrouter.models.{module}")
    router_mod = importlib.import_module(f"llmrouter.models.{module}.router")
    emb = data["embeddings"]
    experts = list(data["experts"])

    def lookup(text: Any) -> Any:  # our MiniLM vector instead of a Longformer pass
        return torch.tensor(emb[int(str(text)[1:])], dtype=torch.float32)

    for mod in (router_mod, importlib.import_module(f"llmrouter.models.{module}.trainer")):
        if hasattr(mod, "get_longformer_embedding"):
            setattr(mod, "get_longformer_embedding", lookup)  # noqa: B010 - a peer module's global
    out = []
    for train, test in splits:
        acc = data["correct"][train].sum(axis=0) / np.maximum(data["answered"][train].sum(axis=0), 1)
        order = [int(j) for j in np.argsort(-acc, kind="stable")]
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            _write_split(tmp, data, train, order)
            router = getattr(pkg, router_cls)(str(_yaml(tmp, name, hparam, emb.shape[1])))
            getattr(pkg, trainer_cls)(router).train()
            picks = [router.route_single({"query": f"q{int(i)}"})["model_name"] for i in test]
        out.append([experts.index(p) for p in picks])
    return out


def run_routellm(
    name: str, data: dict[str, Any], splits: list[tuple[np.ndarray, np.ndarray]]
) -> list[list[int]]:
    """RouteLLM's similarity-weighted ranking or matrix factorisation between the two best singles."""
    import importlib

    import pandas as pd
    import torch

    # imported by name: the peers live in their own virtualenv (the `peers` extra), not this one
    rl = importlib.import_module("routellm.routers.routers")
    mf_model = importlib.import_module("routellm.routers.matrix_factorization.model")
    tmf = importlib.import_module("routellm.routers.matrix_factorization.train_matrix_factorization")

    emb = data["embeddings"].astype(np.float64)
    correct = data["correct"]

    class _Embeddings:  # RouteLLM's OpenAI embeddings call, answered with our vectors
        def create(self, input: list[str], model: str) -> Any:  # noqa: A002 - the OpenAI signature
            vec = emb[int(input[0][1:])].tolist()
            return type("R", (), {"data": [type("E", (), {"embedding": vec})()]})()

    client = type("Client", (), {"embeddings": _Embeddings()})()
    for mod in (rl, mf_model):  # the peer modules' global client
        setattr(mod, "OPENAI_CLIENT", client)  # noqa: B010
    strong_name, weak_name = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
    out = []
    for train, test in splits:
        acc = correct[train].sum(axis=0) / np.maximum(data["answered"][train].sum(axis=0), 1)
        strong, weak = (int(j) for j in np.argsort(-acc, kind="stable")[:2])
        a, b = correct[train, strong], correct[train, weak]
        winner = np.where(a & ~b, "model_a", np.where(b & ~a, "model_b", "tie"))
        if name == "routellm_sw_ranking":
            router = rl.SWRankingRouter.__new__(rl.SWRankingRouter)
            router.strong_model, router.weak_model = strong_name, weak_name
            battles = pd.DataFrame({"model_a": strong_name, "model_b": weak_name, "winner": winner})
            router.arena_df = battles
            router.arena_conv_embedding = emb[train]
            router.embedding_model = "minilm"
            ratings = rl.compute_elo_mle_with_tie(battles)
            router.model2tier = rl.compute_tiers(ratings, num_tiers=2)  # two models, two tiers
            router.arena_df = battles.assign(
                model_a=battles["model_a"].map(router.model2tier),
                model_b=battles["model_b"].map(router.model2tier),
            )
            rates = [router.calculate_strong_win_rate(f"q{int(i)}") for i in test]
        else:
            pairs = [
                {"model_a": strong_name, "model_b": weak_name, "idx": int(i), "winner": w}
                for i, w in zip(train, winner, strict=True)
                if w != "tie"
            ]
            with tempfile.TemporaryDirectory() as d:
                npy = Path(d) / "emb.npy"
                np.save(npy, emb.astype(np.float32))
                net = tmf.MFModel_Train(
                    dim=128,
                    num_models=len(mf_model.MODEL_IDS),
                    num_prompts=len(emb),
                    text_dim=emb.shape[1],
                    use_proj=True,
                    npy_path=str(npy),
                )
            torch.manual_seed(42)
            if pairs:
                loader = tmf.PairwiseDataset(pairs).get_dataloaders(batch_size=64, shuffle=True)
                tmf.train_loops(
                    net, loader, loader, lr=3e-4, weight_decay=1e-5, alpha=0.1, num_epochs=100, device="cpu"
                )
            s_id, w_id = mf_model.MODEL_IDS[strong_name], mf_model.MODEL_IDS[weak_name]
            with torch.no_grad():
                logits = net.forward(
                    torch.tensor([s_id] * len(test)),
                    torch.tensor([w_id] * len(test)),
                    torch.tensor([int(i) for i in test]),
                    test=True,
                )
            rates = torch.sigmoid(logits.reshape(-1)).tolist()
        out.append([strong if r >= 0.5 else weak for r in rates])
    return out


def main(argv: list[str]) -> int:
    _quiet()
    npz = np.load(argv[1], allow_pickle=False)
    data = {k: npz[k] for k in npz.files}
    bounds = data["split_bounds"]
    splits = [
        (data["split_rows"][a:b], data["split_rows"][b:c]) for a, b, c in bounds.reshape(-1, 3).tolist()
    ]
    wanted = [str(r) for r in data["routers"]]
    result: dict[str, Any] = {"picks": {}, "notes": {}, "seconds": {}}
    import time

    for name in wanted:
        start = time.perf_counter()
        try:
            if name in LLMROUTER:
                result["picks"][name] = run_llmrouter(name, data, splits)
            elif name in ROUTELLM:
                result["picks"][name] = run_routellm(name, data, splits)
            else:
                result["notes"][name] = "unknown router"
        except Exception as exc:  # a peer's own failure is reported, not fatal to the others
            result["notes"][name] = f"{type(exc).__name__}: {exc}"[:300]
            traceback.print_exc(file=sys.stderr)
        result["seconds"][name] = round(time.perf_counter() - start, 2)
    Path(argv[2]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
