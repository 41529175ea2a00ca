"""Benchmark: how much of each brief a pool model plans (lines it reads, lines left to the rules), how fast.

Usage::

    python benchmarks/audio_planner.py                           # SmolLM2-135M on the example briefs
    python benchmarks/audio_planner.py --pool configs/pools/smollm2-cpu.yaml --planner smollm2 a.txt b.txt

The model reads each line of a brief (:mod:`agents.audio.llm_planner`); a reading that fails its checks
after the repairs leaves the line to the rule-based parser. Per brief: the lines sent to the model, the
lines it read (first try or after a repair), the lines kept for the rules, and wall and CPU seconds of the
planning (the model's load counted in the first brief).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import `benchmarks` from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("briefs", nargs="*", type=Path, help="brief files (default: examples/audio/*.txt)")
    parser.add_argument("--pool", type=Path, default=REPO / "configs" / "pools" / "smollm2-cpu.yaml")
    parser.add_argument("--planner", default="smollm2", help="the pool expert that plans")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from agents.audio.llm_planner import plan_reading, read_brief
    from batching.engines.registry import build_engine
    from orchestrator.pool import load_pool_config, resolve_local_models

    briefs = args.briefs or sorted((REPO / "examples" / "audio").glob("*.txt"))
    experts = {m.name: m for m in resolve_local_models(load_pool_config(args.pool)).models}
    table = Table(title=f"LLM planner {args.planner} ({experts[args.planner].model})")
    columns = (
        "brief",
        "lines",
        "read by the model",
        "after a repair",
        "left to the rules",
        "wall s",
        "CPU s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "brief" else "right")
    totals = [0, 0]
    with build_engine(experts[args.planner]) as engine:
        for brief in briefs:
            wall, cpu = time.perf_counter(), time.process_time()
            reading = read_brief(engine, brief.read_text(encoding="utf-8"))
            plan_reading(reading, expert=args.planner)  # what `symoe audio --planner` does next
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            totals[0] += reading.read
            totals[1] += reading.asked
            table.add_row(brief.name, str(reading.asked), str(reading.read), str(reading.repaired),
                          str(len(reading.left)), f"{wall:.1f}", f"{cpu:.1f}")  # fmt: skip
    table.add_row("all", str(totals[1]), str(totals[0]), "", str(totals[1] - totals[0]), "", "")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
