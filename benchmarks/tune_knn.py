"""Choose the kNN method's settings by cross-validation inside the profiling split (no test question).

Usage: python benchmarks/tune_knn.py configs/bench/mmlu_pro_paper_small.yaml [--data-dir DIR] [--method ours]
       python benchmarks/tune_knn.py configs/bench/zoo_demo.yaml --k 1 2 3
Prints every grid point's held-out accuracy; the shipped config's settings should be (near) the top.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from benchmarks.tools.tuning import cross_validate, grid_search, with_settings
from orchestrator.bench import load_bench_config, resolve_data_dir
from orchestrator.bench.data import needs_data_dir
from orchestrator.bench.runner import profiling_for_tuning


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--method", default="ours", help="Method of the config to tune (comma-separated)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--k", type=int, nargs="+", default=None, help="Also try these k (experts/question)")
    parser.add_argument(
        "--as-configured", action="store_true", help="Only score the methods' configured settings (no grid)"
    )
    args = parser.parse_args(argv)
    cfg = load_bench_config(args.config)
    method = next((m for m in cfg.methods if m.name == args.method.split(",")[0]), None)
    if method is None:
        parser.error(f"no method {args.method!r} in {args.config}")
    data_dir = resolve_data_dir(args.data_dir) if needs_data_dir(cfg) else None
    profiling, gold = profiling_for_tuning(cfg, data_dir)
    if args.as_configured:
        for name in args.method.split(","):
            m = next((x for x in cfg.methods if x.name == name), None)
            if m is None:
                parser.error(f"no method {name!r} in {args.config}")
            r = cross_validate(m, profiling, gold, folds=args.folds, seeds=args.seeds)
            print(f"{name}: CV accuracy {r.accuracy:.2f} ({args.folds}-fold x {len(args.seeds)} seeds)")
        return 0
    grid: dict[str, list[Any]] = {"neighbours": [10, 30, 60], "alpha": [3.0, 10.0, 30.0], "tau": [0.05, 1.0]}
    if args.k:
        grid["k"] = args.k
    results = grid_search(method, grid, profiling, gold, folds=args.folds, seeds=args.seeds)
    what = f"{args.folds}-fold CV x {len(args.seeds)} seeds on {len(gold)} profiling questions"
    table = Table(title=f"{cfg.name}/{method.name}: {what}")
    for col in (*grid, "CV accuracy", "calls/q"):
        table.add_column(col, justify="right")
    for r in results:
        chosen = with_settings(method, r.settings) == method
        mark = " <- config" if chosen else ""
        table.add_row(
            *(str(r.settings[k]) for k in grid), f"{r.accuracy:.2f}{mark}", f"{r.calls_per_question:.2f}"
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
