"""The benchmark report: a JSON record, a rich table, per-instance traces and accuracy-vs-calls and
accuracy-vs-cost plots.

No question text goes into any of them (GPQA's questions must stay private): methods, figures, ids,
answers (letters or math answers) and routing decisions only.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from batching.engines.base import Engine
from common.records import FinalAnswer, MethodResult
from orchestrator.bench.cost import CostCurve
from orchestrator.bench.protocol import SplitChoice
from orchestrator.bench.rag import summary_lines
from orchestrator.bench.record import config_hash, git_sha


class BenchReport(BaseModel):
    """What ``symoe bench`` writes to ``OUTDIR/report.json``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task: str
    created: str
    config: dict[str, Any]
    config_hash: str
    git_sha: str | None = None
    python: str = Field(default_factory=platform.python_version)
    n_profile: int
    n_test: int
    data_notes: dict[str, int] = Field(default_factory=dict)
    methods: dict[str, MethodResult]
    best_policy: str | None = None
    engines: dict[str, dict[str, float]] = Field(default_factory=dict)
    engine_kinds: dict[str, str] = Field(
        default_factory=dict, description="Each engine's kind (replay, transformers, vllm, openai_http)."
    )
    model_loads: int = 0
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    stage_cpu_seconds: dict[str, float] = Field(
        default_factory=dict, description="CPU time of this process per stage (all its threads)."
    )
    total_seconds: float = 0.0
    embeddings_computed: int = 0
    missing_recordings: int = 0
    extractor_agreement: float | None = Field(
        default=None,
        description="Share of recorded texts where our extractor's letter equals the recorded pred.",
    )
    answer_source: str = "recorded"
    note: str = ""
    retrieval_summary: list[str] = Field(
        default_factory=list,
        description="Methods with retrieval: the never/always/gated comparison in words.",
    )
    protocol: dict[str, Any] = Field(
        default_factory=dict, description="fixed_split, or cross_validation with folds, seeds, stratify."
    )
    reference: str | None = Field(default=None, description="The best baseline (paired tests compare to it).")
    curves: dict[str, CostCurve] = Field(default_factory=dict, description="Accuracy-cost curves.")
    judge_agreement: float | None = Field(
        default=None,
        description="Free-form: share of recorded answers where our math-verify scoring equals the "
        "recording's LLM-judge verdict.",
    )
    protocol_note: str = ""
    auto_choices: dict[str, list[SplitChoice]] = Field(
        default_factory=dict,
        description="auto methods: per split (seed, fold) the recipe chosen by inner CV and its table.",
    )

    @classmethod
    def build(
        cls,
        *,
        cfg: Any,
        data: Any,
        methods: Mapping[str, MethodResult],
        engines: Mapping[str, Engine],
        stage_seconds: Mapping[str, float],
        embeddings_computed: int,
        missing_recordings: int,
        extractor_agreement: float | None,
        note: str,
        stage_cpu_seconds: Mapping[str, float] | None = None,
        protocol: dict[str, Any] | None = None,
        reference: str | None = None,
        curves: Mapping[str, CostCurve] | None = None,
        judge_agreement: float | None = None,
        auto_choices: Mapping[str, list[SplitChoice]] | None = None,
    ) -> BenchReport:
        cfg_dict = cfg.model_dump(mode="json")
        counters = {name: e.counters.as_dict() for name, e in engines.items()}
        modes = {m.name: m.retrieval for m in cfg.methods if m.retrieval is not None}
        cv = (protocol or {}).get("kind") == "cross_validation"
        n_profile = (
            len(data.profile) - len(data.profile) // protocol["folds"]
            if cv and protocol
            else len(data.profile)
        )
        return cls(
            name=cfg.name,
            task=cfg.task,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            config=cfg_dict,
            config_hash=config_hash(cfg),
            git_sha=git_sha(),
            n_profile=n_profile,
            n_test=len(data.test),
            data_notes=dict(data.notes),
            methods=dict(methods),
            best_policy=cfg.best_policy,
            engines=counters,
            engine_kinds={name: e.kind for name, e in engines.items()},
            model_loads=int(sum(c["loads"] for c in counters.values())),
            stage_seconds={k: round(v, 3) for k, v in stage_seconds.items()},
            stage_cpu_seconds={k: round(v, 3) for k, v in (stage_cpu_seconds or {}).items()},
            total_seconds=round(sum(stage_seconds.values()), 3),
            embeddings_computed=embeddings_computed,
            missing_recordings=missing_recordings,
            extractor_agreement=extractor_agreement,
            answer_source=cfg.answer_source,
            note=note,
            retrieval_summary=summary_lines(methods, modes) if modes else [],
            protocol=dict(protocol or {}),
            reference=reference,
            curves=dict(curves or {}),
            judge_agreement=judge_agreement,
            protocol_note=getattr(cfg, "protocol_note", ""),
            auto_choices=dict(auto_choices or {}),
        )

    def write(self, out_dir: Path, traces: Iterable[FinalAnswer] = ()) -> list[Path]:
        """Write report.json, traces.jsonl and accuracy_vs_calls.png into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        report = out_dir / "report.json"
        report.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        trace_path = out_dir / "traces.jsonl"
        with trace_path.open("w", encoding="utf-8") as fh:
            for t in traces:
                fh.write(t.model_dump_json(exclude_none=True) + "\n")
        plot = out_dir / "accuracy_vs_calls.png"
        self.plot(plot)
        cost_plot = out_dir / "accuracy_vs_cost.png"
        self.plot_cost(cost_plot)
        return [report, trace_path, plot, cost_plot]

    @property
    def is_cv(self) -> bool:
        return self.protocol.get("kind") == "cross_validation"

    def title(self) -> str:
        if self.is_cv:
            p = self.protocol
            return (
                f"{self.name}: {self.n_test} questions, {p['seeds']} x stratified {p['folds']}-fold CV "
                f"(profiles on ~{self.n_profile} per fold)"
            )
        return f"{self.name}: {self.n_test} test questions, {self.n_profile} profiling"

    def table(self) -> Table:
        """A rich table of every method: accuracy (mean +- std over CV seeds), calls and cost per
        question, the paired tests against the best baseline; best policy marked."""
        table = Table(title=escape(self.title()))  # names from the config are shown as written
        table.add_column("method")
        table.add_column("accuracy", justify="right")
        table.add_column("calls/q", justify="right")
        table.add_column("cost/q", justify="right")
        table.add_column(f"vs {self.reference}" if self.reference else "vs ref", justify="right")
        table.add_column("p boot / sign", justify="right")
        table.add_column("what")
        for name, r in self.methods.items():
            label = (
                f"[bold green]{escape(name)} (best policy)[/]" if name == self.best_policy else escape(name)
            )
            acc = f"{r.accuracy:.2f}" + (f" ± {r.accuracy_std:.2f}" if r.accuracy_std is not None else "")
            c = r.comparison
            delta = f"{c.delta:+.2f}" if c is not None else ("ref" if name == self.reference else "")
            pvals = f"{c.p_bootstrap:.3f} / {c.p_sign:.3f}" if c is not None else ""
            table.add_row(
                label, acc, f"{r.calls_per_question:.2f}", f"{r.cost_per_question:.1f}", delta, pvals,
                escape(r.description),
            )  # fmt: skip
        return table

    def model_table(self) -> Table:
        """Per model: loads, load seconds, requests, generated tokens, generation seconds, tokens/s."""
        table = Table(title="models")
        for col in ("model", "loads", "load s", "requests", "gen tokens", "gen s", "tokens/s"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for name, c in self.engines.items():
            rate = c["generated_tokens"] / c["generation_seconds"] if c["generation_seconds"] else 0.0
            # a replayed "generation" is a lookup of recorded text: a rate would mean nothing
            shown = "replayed" if self.engine_kinds.get(name) == "replay" else f"{rate:.0f}"
            table.add_row(
                escape(name),
                str(int(c["loads"])),
                f"{c['load_seconds']:.2f}",
                str(int(c["requests"])),
                str(int(c["generated_tokens"])),
                f"{c['generation_seconds']:.2f}",
                shown,
            )
        return table

    def retrieval_table(self) -> Table | None:
        """Methods with retrieval: rate, when, accuracy per branch, cost per question (None without any)."""
        rag = {n: r for n, r in self.methods.items() if r.retrieval_rate is not None}
        if not rag:
            return None
        table = Table(title="retrieval")
        cols = ("method", "accuracy", "retrieval rate", "pre / post", "acc. retrieved", "acc. closed-book",
                "tokens/q", "seconds/q", "searches/q")  # fmt: skip
        for col in cols:
            table.add_column(col, justify="left" if col == "method" else "right")
        for name, r in rag.items():
            s = r.retrieval_stats
            table.add_row(
                escape(name),
                f"{r.accuracy:.2f}",
                f"{100 * (r.retrieval_rate or 0):.1f}%",
                f"{s.get('retrieved_pre', 0):.0f} / {s.get('retrieved_post', 0):.0f}",
                *(f"{s[k]:.1f}" if k in s else "-" for k in ("accuracy_retrieved", "accuracy_closed_book")),
                f"{s.get('tokens_per_question', 0):.1f}",
                f"{s.get('seconds_per_question', 0):.4f}",
                f"{s.get('store_queries_per_question', 0):.2f}",
            )
        return table

    def print(self, console: Console) -> None:
        console.print(self.table())
        rag_table = self.retrieval_table()
        if rag_table is not None:
            console.print(rag_table)
        cats = sorted({c for r in self.methods.values() for c in r.per_category})
        if len(cats) > 1:
            rag = [n for n, r in self.methods.items() if r.retrieval_rate is not None]
            picks = ("best_single", *rag, "oracle") if rag else ("best_single", self.best_policy, "oracle")
            shown = [m for m in dict.fromkeys(picks) if m and m in self.methods]
            cat_table = Table(title="per-category accuracy")
            cat_table.add_column("category")
            for m in shown:
                cat_table.add_column(escape(m), justify="right")
            for c in cats:
                cat_table.add_row(
                    escape(c), *(f"{self.methods[m].per_category.get(c, 0.0):.1f}" for m in shown)
                )
            console.print(cat_table)
        if any(c.get("generation_seconds", 0.0) > 0 for c in self.engines.values()):
            console.print(self.model_table())
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in self.stage_seconds.items())
        console.print(f"model loads: {self.model_loads} ({len(self.engines)} experts); wall time: {stages}")
        if self.stage_cpu_seconds:
            cpu = ", ".join(f"{k} {v:.2f}s" for k, v in self.stage_cpu_seconds.items())
            console.print(f"CPU time of this process: {cpu}")
        share = self.load_share()
        if share is not None:
            console.print(f"model loading took {100 * share:.0f}% of the expert stage")
        if self.extractor_agreement is not None:
            share = 100 * self.extractor_agreement
            console.print(f"our extractor agrees with the recorded pred on {share:.2f}% of texts")
        for line in self.retrieval_summary:
            console.print(escape(line))
        if self.judge_agreement is not None:
            console.print(
                f"our math-verify scoring agrees with the recordings' LLM judge on "
                f"{100 * self.judge_agreement:.2f}% of recorded answers"
            )
        for name, curve in self.curves.items():
            console.print(escape(curve_line(name, curve)))
        if self.protocol_note:
            console.print(f"[dim]{escape(self.protocol_note)}[/]")
        if self.note:
            console.print(f"[dim]{escape(self.note)}[/]")

    def load_share(self) -> float | None:
        """Seconds spent loading models over the expert stage's wall time (None without an expert stage)."""
        stage = self.stage_seconds.get("expert stage", 0.0)
        if stage <= 0:
            return None
        return sum(c.get("load_seconds", 0.0) for c in self.engines.values()) / stage

    def plot(self, path: Path) -> None:
        """Accuracy against expert calls per question: one numbered point per distinct result, and a
        legend beside the axes naming the methods of each number. Methods with the same result share a
        point and points closer than a few pixels share one label ("2, 4"), so no two labels overlap."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        results: dict[tuple[float, float], list[str]] = {}
        for name, r in self.methods.items():
            results.setdefault((round(r.calls_per_question, 2), round(r.accuracy, 2)), []).append(name)
        points = sorted(results.items(), key=lambda p: (-p[0][1], p[0][0]))  # best first
        fig, ax = plt.subplots(figsize=(10, 4.8))
        handles, labels = [], []
        for number, ((calls, acc), names) in enumerate(points, 1):
            colour = (
                "tab:green" if self.best_policy in names else "tab:grey" if "oracle" in names else "tab:blue"
            )
            ax.scatter(calls, acc, color=colour, s=36, zorder=3)
            shown = [f"{n} (best policy)" if n == self.best_policy else n for n in names]
            handles.append(Line2D([], [], marker="o", linestyle="", color=colour))
            labels.append(f"{number}. {', '.join(shown)}: {acc:.1f}%, {calls:g} calls/q")
        for (calls, acc), numbers in _label_groups([xy for xy, _ in points], ax):
            ax.annotate(", ".join(map(str, numbers)), (calls, acc), fontsize=8, xytext=(5, 2),
                        textcoords="offset points")  # fmt: skip
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                  handletextpad=0.3, borderaxespad=0.0)  # fmt: skip
        ax.set_xlabel("expert calls per question")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{self.name} (n={self.n_test})")
        ax.grid(alpha=0.3)
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)

    def plot_cost(self, path: Path) -> None:
        """Accuracy against mean cost per question: every method (CV std as error bars), and the curves."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for name, curve in self.curves.items():
            order = sorted(range(len(curve.costs)), key=lambda i: curve.costs[i])
            xs = [max(curve.costs[i], 1e-3) for i in order]
            ys = [curve.accuracies[i] for i in order]
            oracle = name == "oracle"
            ax.step(xs, ys, where="post", label=f"{name} (budget sweep)",
                    color="tab:grey" if oracle else "tab:orange", ls=":" if oracle else None)  # fmt: skip
        for name, r in self.methods.items():
            colour = (
                "tab:green" if name == self.best_policy else ("tab:grey" if name == "oracle" else "tab:blue")
            )
            x = max(r.cost_per_question, 1e-3)
            ax.errorbar(x, r.accuracy, yerr=r.accuracy_std or 0.0, fmt="o", color=colour, capsize=2)
            ax.annotate(name, (x, r.accuracy), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("mean cost per question (log; parameters in billions unless priced)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{self.name} (n={self.n_test})")
        ax.grid(alpha=0.3)
        if self.curves:
            ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def curve_line(name: str, curve: CostCurve) -> str:
    """One line summarising a cost curve: where it reaches the best single expert, and its AUC share."""
    if curve.reach_cost is None or curve.reach_share is None:
        reach = "never reaches the best single expert's accuracy"
    else:
        reach = (
            f"reaches the best single expert's accuracy at cost {curve.reach_cost:.1f} "
            f"({100 * curve.reach_share:.1f}% of its cost)"
        )
    return f"cost curve {name}: {reach}; area under the curve {curve.auc_share:.3f} of the oracle's"


def _label_groups(
    points: list[tuple[float, float]], ax: Any, dx_px: float = 32.0, dy_px: float = 11.0
) -> list[tuple[Any, list[int]]]:
    """Points (numbered from 1) grouped so that points whose labels would touch (within ``dx_px`` across
    and ``dy_px`` up or down) share one label at the group's first point: ``[((x, y), [numbers])]``."""
    ax.update_datalim(points)
    ax.autoscale_view()
    pixels = ax.transData.transform(points)
    groups: list[tuple[Any, list[int]]] = []
    anchors: list[Any] = []
    for number, (xy, px) in enumerate(zip(points, pixels, strict=True), 1):
        for anchor, (_, numbers) in zip(anchors, groups, strict=True):
            if abs(px[0] - anchor[0]) < dx_px and abs(px[1] - anchor[1]) < dy_px:
                numbers.append(number)
                break
        else:
            groups.append((xy, [number]))
            anchors.append(px)
    return groups
