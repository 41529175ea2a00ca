"""The agent framework: the journaled blackboard, the supervisor loop, profiles and recruitment, layering."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from agents import Blackboard, Candidate, GeneratorProfiles, Recruiter, SupervisorLoop
from agents.messages import CheckResult, Instruction, Verdict
from agents.supervisor import Attempt
from batching.journal.store import RunStore
from common.errors import ConfigError, RoutingError

REPO = Path(__file__).resolve().parents[2]


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    by: str = ""


def test_blackboard_steps_are_computed_once_per_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "r.sqlite")
    calls = []
    board = Blackboard(store, "run-1")
    assert board.step("plan", Note, lambda: calls.append(1) or Note(text="a")) == Note(text="a")
    again = Blackboard(RunStore(tmp_path / "r.sqlite"), "run-1")  # a new process would do this
    assert again.step("plan", Note, lambda: calls.append(1) or Note(text="b")) == Note(text="a")
    assert calls == [1] and again.reused == 1 and again.computed == 0
    board.fail("mix", "boom")
    assert board.get("mix", Note) is None  # a failed step is computed again on resume
    assert [s.step_key for s in store.steps("run-1")] == ["plan", "mix"]
    assert store.lookup_step("run-1", "plan").writes == 1  # type: ignore[union-attr]


def _verdict(task: str, n: int, expert: str, ok: bool, action: str = "next_generator") -> Verdict:
    check = CheckResult.compare("quality", 1.0 if ok else 0.0, 1.0, ">=")
    return Verdict(
        task_id=task,
        attempt=n,
        expert=expert,
        checks=(check,),
        passed=ok,
        instruction=Instruction(action="accept" if ok else action),
    )  # type: ignore[arg-type]


def _loop(board: Blackboard, good: set[str], calls: list[tuple[str, tuple[str, ...]]], max_attempts: int = 3):  # type: ignore[no-untyped-def]
    order = ["bad", "worse", "good"]

    def pick(task: str, tried: Sequence[str]) -> str | None:
        return next((g for g in order if g not in tried), None)

    def generate(expert: str, attempts: Sequence[Attempt]) -> list[Note]:
        calls.append((expert, tuple(a.task_id for a in attempts)))
        return [Note(text=a.task_id, by=expert) for a in attempts]

    def check(a: Attempt, out: Note) -> Verdict:
        return _verdict(a.task_id, a.number, a.expert, out.by in good)

    return SupervisorLoop(
        board=board,
        stage="gen",
        output_model=Note,
        max_attempts=max_attempts,
        pick=pick,
        generate=generate,
        check=check,
    )


def test_supervisor_loop_batches_per_generator_retries_and_moves_on(tmp_path: Path) -> None:
    board = Blackboard(RunStore(tmp_path / "r.sqlite"), "r")
    calls: list[tuple[str, tuple[str, ...]]] = []
    out = _loop(board, {"good"}, calls).run(["t1", "t2", "t3"])
    # round 1: one batch on 'bad' for all three; round 2 on 'worse'; round 3 on 'good'
    assert calls == [("bad", ("t1", "t2", "t3")), ("worse", ("t1", "t2", "t3")), ("good", ("t1", "t2", "t3"))]
    assert all(o.verdict.passed and o.output.by == "good" and o.attempts == 3 for o in out.values())
    assert [v.expert for v in out["t1"].history] == ["bad", "worse", "good"]
    # a second loop on the same run reads every step back: nothing is generated again
    calls2: list[tuple[str, tuple[str, ...]]] = []
    again = _loop(Blackboard(board.store, "r"), {"good"}, calls2).run(["t1", "t2", "t3"])
    assert calls2 == [] and again["t2"].output == out["t2"].output


def test_supervisor_loop_stops_at_the_budget_and_keeps_the_best(tmp_path: Path) -> None:
    board = Blackboard(RunStore(tmp_path / "r.sqlite"), "r")
    calls: list[tuple[str, tuple[str, ...]]] = []
    out = _loop(board, set(), calls, max_attempts=2).run(["t1"])
    assert len(calls) == 2 and not out["t1"].verdict.passed and out["t1"].attempts == 2


def test_profiles_learn_from_verdicts_and_change_recruitment(tmp_path: Path) -> None:
    profiles = GeneratorProfiles()
    cands = [Candidate("a", (("sfx", 0.7),), lambda t: True), Candidate("b", (("sfx", 0.6),), lambda t: True)]
    rec = Recruiter(cands, profiles, kind_of=lambda t: "sfx")
    assert rec.pick("x") == "a" and rec.pick("x", ["a"]) == "b" and rec.pick("x", ["a", "b"]) is None
    for _ in range(3):
        profiles.observe("a", "sfx", passed=False)
    assert rec.pick("x") == "b"  # (0.7*4 + 0) / 7 = 0.4 < 0.6
    path = tmp_path / "p.json"
    profiles.save(path)
    assert GeneratorProfiles.load(path).quality("a", "sfx", 0.7) == pytest.approx(0.4)
    with pytest.raises(RoutingError, match="no generator serves a 'speech' task"):
        Recruiter(cands, profiles, kind_of=lambda t: "speech").pick("x")
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="delete it to start afresh"):
        GeneratorProfiles.load(path)


def test_check_result_serialises_pass() -> None:
    c = CheckResult.compare("true_peak_dbtp", -1.2, -1.0, "<=", "dBTP")
    assert c.model_dump(by_alias=True)["pass"] is True and CheckResult.model_validate(c.model_dump()).passed
    assert not CheckResult.compare("x", None, 1.0, "abs<=").passed


def test_all_exports_exist() -> None:
    import agents.audio

    for mod in (agents, agents.audio):
        assert sorted(mod.__all__) == sorted(set(mod.__all__))
        for name in mod.__all__:
            assert hasattr(mod, name), name


def test_agents_never_import_orchestrator() -> None:
    offenders = []
    for path in (REPO / "agents").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "orchestrator"
            ]
    assert offenders == []
    heavy = "('torch', 'transformers', 'diffusers', 'orchestrator')"
    code = f"import sys, agents, agents.audio; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
