"""Bad input as a new user meets it on the command line: each fails early, on stderr, naming the place,
the value and the CLI flag that fixes it; and what the run reports when some input was skipped."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batching.journal.store import RunStore
from orchestrator.cli import app
from orchestrator.datasets import load_questions
from orchestrator.pool import load_pool_config
from orchestrator.runs.runner import RunOptions, run_pool

ROOT = Path(__file__).resolve().parents[3]
ZOO_POOL = ROOT / "configs" / "pools" / "zoo-cpu.yaml"
EXAMPLES = ROOT / "examples"


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["run", "--store", str(tmp_path / "runs.sqlite"), "--no-progress", *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_skip_malformed_prints_and_reports_the_count(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    rows = [
        '{"id": "a", "question": "What is 3 plus 4?", "answer": "7", "kind": "math"}',
        "{not json",
        '{"id": "b", "options": ["x", "y"]}',
        '{"id": "c", "question": "Add 8 and 6.", "answer": "14", "kind": "math"}',
    ]
    questions.write_text("\n".join(rows) + "\n")
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(questions), "--skip-malformed",
                          "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0].startswith("run: ")
    assert f"skipped 2 malformed row(s) of {questions}" in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["skipped_rows"] == 2 and report["n"] == 2 and report["counts"]["errors"] == 0


def test_rows_are_checked_in_file_order_and_hints_name_the_cli_flag(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    # line 3 has a schema error, line 4 a JSON error: line 3 is reported
    questions.write_text('{"question": "ok?"}\n{"question": "ok too?"}\n{"options": ["a", "b"]}\n{oops\n')
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(questions))
    assert code == 2 and out == ""  # no run id for a run that never reaches the store
    assert f"{questions}:3: missing field 'question'" in err and "--skip-malformed" in err
    assert "skip_malformed=True" not in err.split("--skip-malformed")[0]  # the CLI flag comes first
    assert "Traceback" not in err
    assert RunStore(tmp_path / "runs.sqlite").list_runs() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["only one"], "at least 2 distinct non-empty strings, got 1"),
        (["same", "same "], "at least 2 distinct non-empty strings, got 2 (1 distinct"),
        (["a", ""], "at least 2 distinct non-empty strings"),
    ],
)
def test_options_must_be_two_distinct_non_empty_strings(
    tmp_path: Path, options: list[str], message: str
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Pick one.", "options": options}) + "\n")
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(questions))
    assert code == 2 and out == "" and f"{questions}:1:" in err and message in err


def test_a_pool_that_cannot_run_fails_before_the_run_id(tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(ZOO_POOL.read_text().replace("profiles: zoo-cpu.profiles.json", "profiles: missing.json"))
    code, out, err = _run(tmp_path, "--pool", str(pool), "--input", str(EXAMPLES / "questions.jsonl"))
    assert code == 2 and out == "" and "missing.json" in err and "symoe profile" in err


def test_negative_limit_is_rejected(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(EXAMPLES / "questions.jsonl"),
                          "--limit", "-1")  # fmt: skip
    assert (
        code == 2
        and out == ""
        and "Invalid value for '--limit'" in err
        and "greater than or equal to 1" in err
    )
    bench = CliRunner().invoke(app, ["bench", "x.yaml", "--limit", "-1"])
    assert bench.exit_code == 2 and "--limit" in bench.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; /sys covers it below")
def test_out_in_a_read_only_folder_fails_before_any_model_loads(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(EXAMPLES / "questions.jsonl"),
                          "--out", str(locked / "out"))  # fmt: skip
    assert code == 2 and out == "" and "cannot write there" in err


@pytest.mark.parametrize("command", ["run", "bench", "demo", "profile"])
def test_out_that_is_a_file_or_unwritable_fails_first(tmp_path: Path, command: str) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("mine")
    inputs = {
        "run": ["run", "--pool", str(ZOO_POOL), "--input", str(EXAMPLES / "questions.jsonl")],
        "bench": ["bench", str(ROOT / "configs" / "bench" / "zoo_demo.yaml")],
        "demo": ["demo", "--sample", "7"],
        "profile": ["profile", "--pool", str(ZOO_POOL), "--input", str(EXAMPLES / "validation.jsonl")],
    }[command]
    unwritable = "/sys/symoe-out" if command != "profile" else "/sys/symoe-out/p.json"  # mkdir fails there
    runner = CliRunner()
    for out, message in ((a_file, "is a file, not a folder"), (Path(unwritable), "cannot write there")):
        target = str(a_file / "p.json") if command == "profile" and out == a_file else str(out)
        result = runner.invoke(app, [*inputs, "--out", target, "--no-progress"])
        assert result.exit_code == 2, result.output
        assert "--out" in result.stderr and (message in result.stderr or "not a folder" in result.stderr)
        assert "Traceback" not in result.output and result.stdout == ""
    assert a_file.read_text() == "mine"


def test_errors_go_to_stderr_not_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2 and result.stdout == ""
    assert "needs --pool and --input" in result.stderr


def test_runs_list_and_show_agree_after_a_resume(tmp_path: Path) -> None:
    pool = load_pool_config(ZOO_POOL)
    questions = load_questions(EXAMPLES / "questions.jsonl").instances[:3]
    store = RunStore(tmp_path / "runs.sqlite")
    run_pool(pool, questions, options=RunOptions(store=store, run_id="r1"))
    run_pool(pool, questions, options=RunOptions(store=store, run_id="r1", resume=True))
    runner = CliRunner()
    listed = runner.invoke(
        app, ["runs", "list", "--store", str(tmp_path / "runs.sqlite")], terminal_width=200
    )
    shown = runner.invoke(app, ["runs", "show", "r1", "--store", str(tmp_path / "runs.sqlite")],
                          terminal_width=200)  # fmt: skip
    assert listed.exit_code == 0 and shown.exit_code == 0, listed.output + shown.output
    row = next(line for line in listed.stdout.splitlines() if "r1" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[1] == "done" and (cells[5], cells[6]) == ("0", "3")  # the resume reused all three
    assert "done; last report: computed 0, reused 3" in shown.stdout


def test_data_convert_writes_question_files_that_load(tmp_path: Path) -> None:
    split = tmp_path / "MMLU_Pro_test.json.gz"
    rows = [{"question": "2+2? The options are: (A) 3 (B) 4 (C) 5", "gold_answer": "B", "category": "math"},
            {"question": "Sky? The options are: (A) blue (B) green", "gold_answer": "A"}]  # fmt: skip
    with gzip.open(split, "wt") as fh:
        json.dump(rows, fh)
    out = tmp_path / "mmlu.jsonl"
    result = CliRunner().invoke(app, ["data", "convert", str(split), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 mmlu_pro questions" in result.stdout
    first = json.loads(out.read_text().splitlines()[0])
    assert first == {"id": "MMLU_Pro_test_0", "question": "2+2?", "options": ["3", "4", "5"], "answer": "B",
                     "category": "math"}  # fmt: skip
    assert [i.prompt_text() for i in load_questions(out).instances][
        1
    ] == "Sky? The options are: (A) blue (B) green"
    mmlu = tmp_path / "rows.jsonl"
    mmlu.write_text(json.dumps({"question_id": 7, "question": "Q?", "options": ["a", "b"], "answer": "A",
                                "category": "law"}) + "\n")  # fmt: skip
    result = CliRunner().invoke(app, ["data", "convert", str(mmlu), "--out", str(tmp_path / "m.jsonl.gz")])
    assert result.exit_code == 0, result.output
    assert load_questions(tmp_path / "m.jsonl.gz").instances[0].id == "7"


def test_data_convert_never_writes_gpqa_as_plain_text(tmp_path: Path) -> None:
    split = tmp_path / "GPQA_test.json.gz"
    secret = "A question that must stay out of crawls? The options are: (A) x (B) y (C) z (D) w"
    with gzip.open(split, "wt") as fh:
        json.dump([{"question": secret, "gold_answer": "C"}], fh)
    plain = tmp_path / "gpqa.jsonl"
    refused = CliRunner().invoke(app, ["data", "convert", str(split), "--out", str(plain)])
    assert refused.exit_code == 2 and "never be written as plain text" in refused.stderr
    assert not plain.exists() and "crawls" not in refused.output
    done = CliRunner().invoke(app, ["data", "convert", str(split), "--out", str(tmp_path / "gpqa.jsonl.gz")])
    assert done.exit_code == 0 and "crawls" not in done.output
    with gzip.open(tmp_path / "gpqa.jsonl.gz", "rt") as fh:
        assert fh.read().count("\n") == 1


def test_shipped_examples_load() -> None:
    assert len(load_questions(EXAMPLES / "questions.jsonl").instances) == 14
    validation = load_questions(EXAMPLES / "validation.jsonl").instances
    assert len(validation) == 70 and all(i.gold for i in validation)
    choice = load_questions(EXAMPLES / "multiple_choice.jsonl").instances
    assert all(len(i.options) == 4 and i.answer_format.kind == "multiple_choice" for i in choice)


def test_sample_draws_every_category_and_limit_takes_file_order(tmp_path: Path) -> None:
    zoo_test = ROOT / "zoo" / "data" / "zoo_test.jsonl"
    code, out, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(zoo_test), "--sample", "14",
                          "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err
    answers = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    categories = {q.id: q.category for q in load_questions(zoo_test).instances}
    assert len(answers) == 14
    # 7 skills, 2 questions each
    assert sorted({categories[a["instance_id"]] for a in answers}) == sorted(set(categories.values()))
    assert "{" not in out.splitlines()[-2]  # counts read as words, not a Python dict
    code, _, err = _run(tmp_path, "--pool", str(ZOO_POOL), "--input", str(zoo_test), "--sample", "3",
                        "--limit", "3")  # fmt: skip
    assert code == 2 and "--limit and --sample" in err


def test_profile_writes_under_symoe_home_by_default(tmp_path: Path) -> None:
    rows = (ROOT / "zoo" / "data" / "zoo_validation.jsonl").read_text().splitlines()[::40]
    questions = tmp_path / "val.jsonl"
    questions.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(
        app, ["profile", "--pool", str(ZOO_POOL), "--input", str(questions), "--no-progress"],
        env={"SYMOE_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads((tmp_path / "home" / "profiles" / "zoo-cpu.json").read_text())
    assert len(record["correct"]) == len(rows)
    assert "wrote " + str(tmp_path / "home" / "profiles" / "zoo-cpu.json") in result.stdout
