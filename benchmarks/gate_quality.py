"""Benchmark: the retrieval gate's score as a predictor that the routed answer is wrong (MMLU-Pro recordings).

Usage::

    python benchmarks/gate_quality.py                        # configs/bench/mmlu_pro_paper_small.yaml, "ours"
    python benchmarks/gate_quality.py --group-by category    # the group rate by MMLU-Pro subject
    python benchmarks/gate_quality.py --output-json          # also writes benchmarks/results/<date>/...

ROC AUC of each score (pre-generation: the plain kNN estimate and the gate's model; post-generation:
agreement, the vote's confidence and the gate's model with the vote) and the share of questions, highest
score first, that holds 80% of the wrong answers. Fitted on the profiling split (cross-validated inside it),
scored on the test split. The logic lives in :mod:`benchmarks.tools.gate_quality`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from benchmarks.tools.gate_quality import GateQualityConfig, gate_quality_table, run_gate_quality
from benchmarks.tools.speed import benchmark_parser, config_from_args, write_result


def build_parser() -> argparse.ArgumentParser:
    return benchmark_parser(__doc__.splitlines()[0], GateQualityConfig)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(GateQualityConfig, args)
    console = Console(width=max(Console().width, 130))
    result = run_gate_quality(cfg)
    console.print(gate_quality_table(result))
    inner = ", ".join(f"{k}: {v:.4f}" for k, v in result.result.inner_cv.items())
    console.print(f"pre-generation model settings inside the profiling split (mean CV AUC): {inner}")
    if args.output_json is not None:
        console.print(f"wrote {write_result(result, args.output_json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
