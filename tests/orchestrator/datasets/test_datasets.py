"""Tests for the dataset readers, the MMLU-Pro and split loaders, split matching and the Hub loader.

GPQA's questions must never be printed: the shared-data tests below only count and compare GPQA rows,
and assertion messages never include question text.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

import orchestrator.datasets as datasets_pkg
from common.errors import ConfigError, DataError
from common.records import AnswerFormat, Instance
from orchestrator.datasets import (
    SUPPORTED_SUFFIXES,
    LoadResult,
    load_from_hub,
    load_mmlu_pro,
    load_split,
    match_split_to_recordings,
    parse_inline_options,
    question_key,
    read_numbered_rows,
    read_rows,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"


def _gzip_copy(src: Path, dst: Path) -> Path:
    with src.open("rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


@pytest.fixture
def splits_dir(tmp_path: Path) -> Path:
    """The hand-written splits of ``splits.json``, written as ``<TASK>_<split>.json.gz`` files."""
    splits = json.loads((FIXTURES / "splits.json").read_text(encoding="utf-8"))
    for name, rows in splits.items():
        with gzip.open(tmp_path / f"{name}.json.gz", "wt", encoding="utf-8") as f:
            json.dump(rows, f)
    return tmp_path


def test_all_exports_the_public_names() -> None:
    public = {
        name
        for name, value in vars(datasets_pkg).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert sorted(datasets_pkg.__all__) == sorted(public)


# --- readers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_rows_json_list(tmp_path: Path, gzipped: bool) -> None:
    path = FIXTURES / "rows.json"
    if gzipped:
        path = _gzip_copy(path, tmp_path / "rows.json.gz")
    rows, skipped = read_rows(path)
    assert [r["text"] for r in rows] == ["first", "second", "third"]
    assert skipped == 0


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_rows_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path: Path, gzipped: bool) -> None:
    path = FIXTURES / "mmlu_pro_good.jsonl"
    if gzipped:
        path = _gzip_copy(path, tmp_path / "good.jsonl.gz")
    numbered, skipped = read_numbered_rows(path)
    assert [line for line, _ in numbered] == [1, 2, 4]  # line 3 is blank
    assert skipped == 0


def test_read_rows_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, _ = read_rows(FIXTURES / "mmlu_pro_good.jsonl")
    rows = [{**r, "question_id": str(r["question_id"])} for r in rows]  # one Arrow type per column
    path = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    back, skipped = read_rows(path)
    assert skipped == 0
    assert [r["question"] for r in back] == [r["question"] for r in rows]
    assert back[1]["options"] == ["Venus", "Mercury", "Earth", "Mars"]
    assert [i.gold for i in load_mmlu_pro(path).instances] == ["B", "B", "C"]


def test_read_rows_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot read Parquet file"):
        read_rows(path)


def test_read_rows_bad_jsonl_line_names_file_and_line() -> None:
    path = FIXTURES / "mmlu_pro_bad.jsonl"
    with pytest.raises(DataError, match=r"mmlu_pro_bad\.jsonl:2: invalid JSON") as info:
        read_rows(path)
    assert info.value.path == str(path)
    assert info.value.line == 2


def test_read_rows_skip_malformed_counts_bad_lines() -> None:
    rows, skipped = read_rows(FIXTURES / "mmlu_pro_bad.jsonl", skip_malformed=True)
    assert skipped == 2  # the cut-off line and the JSON list
    assert [r["question_id"] for r in rows] == [201, 204, 205, 206]


def test_read_rows_json_list_with_a_non_object() -> None:
    with pytest.raises(DataError, match=r"rows_bad\.json:2: row 2 is a JSON int") as info:
        read_rows(FIXTURES / "rows_bad.json")
    assert info.value.line == 2
    rows, skipped = read_rows(FIXTURES / "rows_bad.json", skip_malformed=True)
    assert (len(rows), skipped) == (2, 1)


def test_read_rows_broken_json_document_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n {"a": 1},\n {"a": \n]', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.json:4: invalid JSON"):
        read_rows(path, skip_malformed=True)  # a broken document cannot be skipped past


def test_read_rows_top_level_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON list of objects, got a JSON dict"):
        read_rows(path)


def test_read_rows_unknown_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported file type") as info:
        read_rows(path)
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in str(info.value)


def test_read_rows_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_rows(tmp_path / "absent.jsonl")


def test_read_rows_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_rows(path)


# --- MMLU-Pro ------------------------------------------------------------------------------------


def test_load_mmlu_pro_official_layout() -> None:
    result = load_mmlu_pro(FIXTURES / "mmlu_pro_good.jsonl")
    assert isinstance(result, LoadResult)
    assert result.skipped == 0
    assert result.path.endswith("mmlu_pro_good.jsonl")
    first, second, third = result.instances
    assert first.id == "101"  # int question ids become strings
    assert first.gold == "B"
    assert first.task == "mmlu_pro"
    assert first.category == "math"
    assert first.answer_format == AnswerFormat(kind="multiple_choice", n_options=10)
    assert first.metadata == {"src": "hand-written"}
    assert second.answer_format.n_options == 4  # fewer than ten options
    assert second.prompt_text().endswith("(A) Venus (B) Mercury (C) Earth (D) Mars")
    assert third.gold == "C"  # from answer_index alone
    assert third.metadata == {}  # no src column


def test_load_mmlu_pro_malformed_rows_name_file_and_line() -> None:
    path = FIXTURES / "mmlu_pro_bad.jsonl"
    with pytest.raises(DataError, match=r"mmlu_pro_bad\.jsonl:2:"):
        load_mmlu_pro(path)
    # Past the unreadable lines, the first invalid row is line 4 (no gold answer).
    with pytest.raises(DataError, match=r"mmlu_pro_bad\.jsonl:4: missing field 'answer'"):
        _load_rows_strictly(path)
    result = load_mmlu_pro(path, skip_malformed=True)
    assert [i.id for i in result.instances] == ["201", "206"]
    assert result.skipped == 4  # two unreadable lines, no gold, gold beyond the options


def _load_rows_strictly(path: Path) -> LoadResult:
    """Read skipping unreadable lines but convert strictly, to reach the row-level errors."""
    from orchestrator.datasets import mmlu_pro_from_rows

    rows, skipped = read_numbered_rows(path, skip_malformed=True)
    return mmlu_pro_from_rows(rows, path=str(path), skipped=skipped)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"question": "q", "options": ["a", "b"], "answer": "A", "category": "c"}, "'question_id'"),
        ({"question_id": 1, "question": "q", "options": "a b", "answer": "A", "category": "c"}, "a list"),
        ({"question_id": 1, "question": "q", "options": ["a", "b"], "answer": "C", "category": "c"}, "gold"),
        (
            {
                "question_id": 1,
                "question": "q",
                "options": ["a", "b"],
                "answer": "A",
                "answer_index": 1,
                "category": "c",
            },
            "disagrees",
        ),
        (
            {"question_id": 1, "question": "", "options": ["a", "b"], "answer": "A", "category": "c"},
            "question",
        ),
        ({"question_id": 1, "question": "q", "options": ["a"], "answer": "A", "category": "c"}, "n_options"),
    ],
)
def test_mmlu_pro_row_errors(tmp_path: Path, row: dict[str, object], message: str) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_mmlu_pro(path)
    assert info.value.line == 1
    assert load_mmlu_pro(path, skip_malformed=True).skipped == 1


# --- Symbolic-MoE splits -------------------------------------------------------------------------


def test_parse_inline_options() -> None:
    assert parse_inline_options("2+2? The options are: (A) 3 (B) 4") == ["3", "4"]
    assert parse_inline_options("No options here.") == []
    # A "(C)" inside option A's text is not a marker: B is looked for first.
    assert parse_inline_options("Q The options are: (A) see (C) below (B) x (C) y") == [
        "see (C) below",
        "x",
        "y",
    ]
    # At most max_options: option D keeps the "(E)" that follows it.
    assert (
        parse_inline_options("Q\n\nThe options are: (A) a (B) b (C) c (D) d (E) e", max_options=4)[-1]
        == "d (E) e"
    )
    # A marker glued to a word is not a marker.
    assert parse_inline_options("Q The options are: (A) f(B) (B) g") == ["f(B)", "g"]


def test_load_split_multiple_choice(splits_dir: Path) -> None:
    result = load_split(splits_dir, "MMLU_Pro", "test")
    assert result.skipped == 0
    first = result.instances[0]
    assert first.id == "MMLU_Pro_test_0"
    assert first.task == "mmlu_pro"
    assert first.category == "math"
    assert first.options == ["3.", "4.", "5."]
    assert first.answer_format == AnswerFormat(kind="multiple_choice", n_options=3)
    assert first.gold == "B"
    assert first.question.startswith("What is 2 + 2? The options are: (A)")  # kept whole
    assert first.prompt_text() == first.question
    assert [i.answer_format.n_options for i in result.instances] == [3, 4, 2]


def test_load_split_accepts_the_lowercase_task_key(splits_dir: Path) -> None:
    result = load_split(splits_dir, "medmcqa", "train")
    (inst,) = result.instances
    assert inst.id == "MedMCQA_train_0"
    assert inst.options == ["a", "b", "c", "d"]
    assert inst.gold == "D"


def test_load_split_math(splits_dir: Path) -> None:
    result = load_split(splits_dir, "AIME24", "test")
    assert [i.gold for i in result.instances] == ["3", "4"]
    assert all(i.answer_format.kind == "math" and i.options == [] for i in result.instances)
    assert [i.id for i in result.instances] == ["AIME24_test_0", "AIME24_test_1"]


def test_load_split_gpqa_errors_never_show_question_text(splits_dir: Path) -> None:
    with pytest.raises(DataError, match=r"GPQA_test\.json\.gz:2: found 0 inline option") as info:
        load_split(splits_dir, "GPQA", "test")
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    result = load_split(splits_dir, "GPQA", "test", skip_malformed=True)
    assert result.skipped == 1
    (inst,) = result.instances
    assert inst.id == "GPQA_test_0"
    assert inst.answer_format.n_options == 4  # the "(E)" in option D's text is not a fifth option
    assert inst.gold == "C"


def test_load_split_ids_stay_stable_when_rows_are_skipped(tmp_path: Path) -> None:
    rows = [
        {"question": "Q0 The options are: (A) a (B) b", "gold_answer": "A"},
        {"question": "Q1 The options are: (A) a (B) b", "gold_answer": "Z"},
        {"question": "Q2 The options are: (A) a (B) b", "gold_answer": "B"},
    ]
    with gzip.open(tmp_path / "MedMCQA_test.json.gz", "wt", encoding="utf-8") as f:
        json.dump(rows, f)
    with pytest.raises(DataError, match=r"MedMCQA_test\.json\.gz:2: .*gold 'Z'"):
        load_split(tmp_path, "MedMCQA", "test")
    result = load_split(tmp_path, "MedMCQA", "test", skip_malformed=True)
    assert [i.id for i in result.instances] == ["MedMCQA_test_0", "MedMCQA_test_2"]


def test_load_split_missing_file_lists_available(splits_dir: Path) -> None:
    with pytest.raises(DataError, match="no split file for task 'GPQA' split 'train'") as info:
        load_split(splits_dir, "GPQA", "train")
    assert "MMLU_Pro_test.json.gz" in str(info.value)


def test_load_split_unknown_task(splits_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown split task 'MATH500'.*MMLU_Pro, GPQA, MedMCQA, AIME24"):
        load_split(splits_dir, "MATH500", "test")


# --- matching ------------------------------------------------------------------------------------


def _rec(qid: str, question: str, options: list[str], gold: str) -> Instance:
    return Instance(
        id=qid,
        question=question,
        options=options,
        gold=gold,
        task="mmlu_pro",
        answer_format=AnswerFormat(n_options=len(options)),
    )


def test_question_key_is_the_reference_key() -> None:
    assert question_key("What  is\n2 + 2? The options are: (A) 3 (B) 4") == "What is 2 + 2?"
    assert question_key("  No options\there ") == "No options here"


def test_match_text_last_duplicate_wins_and_text_options_disambiguates(splits_dir: Path) -> None:
    split = load_split(splits_dir, "MMLU_Pro", "test").instances
    recordings = [
        _rec("1", "What is 2 + 2?", ["3", "4", "5"], "B"),
        _rec("2", "Which planet is closest to the Sun?", ["Venus", "Mercury", "Earth", "Mars"], "B"),
        _rec("3", "What is 2 + 2?", ["1", "2", "22", "4"], "D"),  # same text, other options
    ]
    text = match_split_to_recordings(split, recordings)
    assert text.strategy == "text"
    assert [(s.id, r.id) for s, r in text.matched] == [("MMLU_Pro_test_0", "3"), ("MMLU_Pro_test_1", "2")]
    assert [s.id for s in text.unmatched] == ["MMLU_Pro_test_2"]
    faithful = match_split_to_recordings(split, recordings, strategy="text_options")
    assert [(s.id, r.id) for s, r in faithful.matched] == [("MMLU_Pro_test_0", "1"), ("MMLU_Pro_test_1", "2")]


def test_match_text_options_ties_go_to_the_last(splits_dir: Path) -> None:
    split = load_split(splits_dir, "MMLU_Pro", "test").instances[:1]
    recordings = [_rec("1", "What is 2 + 2?", ["x", "y"], "A"), _rec("2", "What is 2 + 2?", ["p", "q"], "A")]
    result = match_split_to_recordings(split, recordings, strategy="text_options")
    assert result.matched[0][1].id == "2"


def test_match_unknown_strategy() -> None:
    with pytest.raises(ConfigError, match="unknown match strategy 'fuzzy'; choose one of text, text_options"):
        match_split_to_recordings([], [], strategy="fuzzy")  # type: ignore[arg-type]


# --- hub -----------------------------------------------------------------------------------------


def test_load_from_hub_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail, offline
    with pytest.raises(ConfigError, match=r"pip install 'symbolic-moe\[hub\]'"):
        load_from_hub("TIGER-Lab/MMLU-Pro", "test")


# --- shared data ---------------------------------------------------------------------------------

SPLIT_SIZES = {
    ("MMLU_Pro", "train"): 350,
    ("MMLU_Pro", "test"): 2100,
    ("GPQA", "train"): 249,
    ("GPQA", "test"): 198,
    ("AIME24", "train"): 354,
    ("AIME24", "test"): 30,
    ("MedMCQA", "train"): 504,
    ("MedMCQA", "test"): 4183,
}


@pytest.fixture(scope="module")
def recordings(shared_data_dir: Path) -> LoadResult:
    return load_mmlu_pro(shared_data_dir / "mmlu_pro_recordings" / "questions.jsonl.gz")


@pytest.mark.shared_data
def test_shared_mmlu_pro_questions(recordings: LoadResult) -> None:
    assert len(recordings.instances) == 12_032
    assert recordings.skipped == 0
    n_options = Counter(i.answer_format.n_options for i in recordings.instances)
    assert n_options[10] == 9_982
    assert min(n_options) == 3  # some questions have fewer than ten options
    assert len({i.category for i in recordings.instances}) == 14
    assert all(i.metadata.get("src") for i in recordings.instances)


@pytest.mark.shared_data
@pytest.mark.parametrize(("task", "split"), sorted(SPLIT_SIZES))
def test_shared_splits_load(shared_data_dir: Path, task: str, split: str) -> None:
    result = load_split(shared_data_dir / "symbolic_moe_splits", task, split)
    assert (len(result.instances), result.skipped) == (SPLIT_SIZES[task, split], 0)
    n_options = Counter(i.answer_format.n_options for i in result.instances)
    if task in ("GPQA", "MedMCQA"):
        assert n_options == {4: SPLIT_SIZES[task, split]}
    elif task == "MMLU_Pro":
        assert max(n_options) == 10 and min(n_options) >= 3
        assert all(i.category for i in result.instances)
    else:
        assert all(i.answer_format.kind == "math" and i.options == [] for i in result.instances)
        # One AIME train gold is "080 or 081 (both were accepted)"; every other gold is an integer.
        non_integer = [i.gold for i in result.instances if not (i.gold or "").isdigit()]
        assert len(non_integer) == (1 if split == "train" else 0)


@pytest.mark.shared_data
@pytest.mark.parametrize(("split", "n_matched"), [("train", 350), ("test", 2099)])
def test_shared_matching_counts(
    shared_data_dir: Path, recordings: LoadResult, split: str, n_matched: int
) -> None:
    split_instances = load_split(shared_data_dir / "symbolic_moe_splits", "MMLU_Pro", split).instances
    text = match_split_to_recordings(split_instances, recordings.instances, strategy="text")
    assert len(text.matched) == n_matched
    assert len(text.unmatched) == len(split_instances) - n_matched
    faithful = match_split_to_recordings(split_instances, recordings.instances, strategy="text_options")
    assert len(faithful.matched) == n_matched
    # Disambiguating duplicate texts by options recovers more of the split's own gold answers.
    gold_text = sum(s.gold == r.gold for s, r in text.matched)
    gold_faithful = sum(s.gold == r.gold for s, r in faithful.matched)
    assert gold_faithful >= gold_text
    assert gold_faithful / n_matched > 0.98


def test_stratified_sample_keeps_category_shares_seeded_in_file_order() -> None:
    from common.records import Instance
    from orchestrator.datasets import stratified_sample

    rows = [Instance(id=f"{c}{i}", question="q?", category=c) for c, n in (("a", 60), ("b", 30), ("c", 10))
            for i in range(n)]  # fmt: skip
    picked = stratified_sample(rows, 10, seed=3)
    assert [r.category for r in picked].count("a") == 6 and [r.category for r in picked].count("c") == 1
    assert [rows.index(r) for r in picked] == sorted(rows.index(r) for r in picked)  # file order
    assert stratified_sample(rows, 10, seed=3) == picked and stratified_sample(rows, 10, seed=4) != picked
    assert stratified_sample(rows, 500) == rows
