"""Property test of the inputs users hand `symoe kb add`: any folder of files, names and links.

For every generated folder: the exit code is 0 or the documented user-error code 2, nothing on the
output is a traceback, nothing is written outside the store (and the embedding cache under
``$SYMOE_HOME``), every document name and text prints literally, and adding again changes nothing and
leaves no duplicate chunk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orchestrator.cli import app

NAME = (
    st.lists(st.sampled_from([*"ab[]/:x_ -.é漢", "[/]", ":x:", "[bold]"]), min_size=1, max_size=6)
    .map("".join)
    .map(lambda s: s.replace("/", "_").strip(". ") or "n")
)
CONTENT = st.one_of(
    st.text(min_size=0, max_size=300).map(str.encode),  # any text, markup and emoji codes included
    st.binary(max_size=64),  # binary, latin-1, NULs
    st.lists(
        st.fixed_dictionaries(
            {"text": st.text(max_size=80)}, optional={"id": st.text(max_size=5), "title": NAME}
        ),
        max_size=4,
    ).map(lambda rows: "\n".join(__import__("json").dumps(r) for r in rows).encode()),
)
SUFFIX = st.sampled_from([".txt", ".md", ".jsonl", ".html", ".bin", ""])
TREE = st.lists(st.tuples(st.lists(NAME, max_size=2), NAME, SUFFIX, CONTENT), min_size=1, max_size=5)


def _files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file() or p.is_symlink()}


@pytest.mark.slow  # a few dozen CLI runs, each embedding a handful of chunks
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREE, link_out=st.booleans())
def test_any_folder_adds_cleanly_and_twice_changes_nothing(
    tree: list[tuple[list[str], str, str, bytes]], link_out: bool, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base = tmp_path_factory.mktemp("prop")
    monkeypatch.setenv("SYMOE_HOME", str(base / "home"))
    docs = base / "d["
    docs.mkdir()
    for folders, name, suffix, content in tree:
        folder = docs.joinpath(*folders)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}{suffix}"
        if not target.exists():
            target.write_bytes(content)
    secret = base / "secret.txt"
    secret.write_text("outside the folder: must never be stored")
    if link_out:
        os.symlink(secret, docs / "link.txt")
    before = _files(base)
    kb = base / "kb"
    runner = CliRunner()
    first = runner.invoke(app, ["kb", "add", str(docs), "--kb", str(kb), "--no-progress"])
    assert first.exit_code in (0, 2), first.output
    assert (
        "Traceback" not in first.output and first.exception is None or isinstance(first.exception, SystemExit)
    )
    after = _files(base)
    outside = {p for p in after if not p.startswith((str(kb), str(base / "home")))}
    assert outside == {p for p in before}  # nothing new outside the store and the cache
    assert all(after[p] == before[p] for p in before)  # and nothing changed
    if first.exit_code != 0:
        return
    again = runner.invoke(app, ["kb", "add", str(docs), "--kb", str(kb), "--no-progress"])
    assert again.exit_code == 0 and "added 0, replaced 0, moved 0" in again.output, again.output
    stats = runner.invoke(app, ["kb", "stats", "--kb", str(kb)])
    assert stats.exit_code == 0 and "duplicate rows │ 0" in " ".join(stats.output.split()), stats.output
    found = runner.invoke(app, ["kb", "search", "must never be stored", "--kb", str(kb), "--mode", "bm25"])
    assert found.exit_code in (0, 2) and "outside the folder" not in found.output
